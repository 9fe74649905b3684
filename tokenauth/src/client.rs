//! A request's client address, as the login throttle and tokens' `allowed_ips` see it: the
//! peer's, or what trusted proxies ([`Policy::trusted_proxies`](crate::Policy::trusted_proxies))
//! say in `X-Forwarded-For`.

use std::net::IpAddr;

use poem::Request;

/// The client's address: the peer's, or — only when the peer is a trusted proxy — the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy. Entries are
/// read from the right, as the proxies appended them: an entry that is not an address (or
/// `address:port`) stops the walk and the peer is used, so a client cannot hide its own
/// address behind a malformed one. Addresses are compared in canonical form (an
/// IPv4-mapped `::ffff:10.0.0.1` is `10.0.0.1`). `None` when the peer is not an IP socket
/// (e.g. a Unix socket): then the login throttle applies only its per-username limit, and a
/// token with `allowed_ips` is refused.
pub(crate) fn client_address(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    let forwarded = req.headers().get_all("x-forwarded-for");
    Some(resolve(peer, forwarded.iter(), trusted_proxies))
}

/// [`client_address`] for a peer and its `X-Forwarded-For` header values.
fn resolve<'h>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'h poem::http::HeaderValue>,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    let peer = peer.to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|p| p.to_canonical() == *ip);
    if !trusted(&peer) {
        return peer;
    }
    let mut entries: Vec<&str> = Vec::new();
    for value in forwarded {
        let Ok(value) = value.to_str() else {
            return peer; // not visible ASCII: believe nothing in it
        };
        entries.extend(value.split(',').map(str::trim));
    }
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_address(entry) else {
            return peer;
        };
        if !trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest // every hop is a trusted proxy
}

/// An `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`, canonical.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> Option<IpAddr> {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let values: Vec<poem::http::HeaderValue> =
            forwarded.iter().map(|v| v.parse().unwrap()).collect();
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        Some(resolve(peer.ip(), values.iter(), &trusted))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let proxy = ["10.0.0.1"];
        // Untrusted peers: the header is ignored.
        assert_eq!(
            from("192.0.2.9:1", &["198.51.100.1"], &proxy),
            ip("192.0.2.9")
        );
        // The right-most untrusted entry, whatever the client wrote to its left.
        assert_eq!(
            from("10.0.0.1:1", &["6.6.6.6, 198.51.100.1"], &proxy),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["198.51.100.1:4711", "10.0.0.1"], &proxy),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["[2001:db8::1]:443"], &proxy),
            ip("2001:db8::1")
        );
        // A malformed entry where the proxy's should be: believe nothing.
        assert_eq!(
            from("10.0.0.1:1", &["6.6.6.6, unknown"], &proxy),
            ip("10.0.0.1")
        );
        // An IPv4 proxy seen through an IPv6 socket is still the trusted proxy.
        assert_eq!(
            from("[::ffff:10.0.0.1]:1", &["198.51.100.1"], &proxy),
            ip("198.51.100.1")
        );
        // No header: the proxy's own address.
        assert_eq!(from("10.0.0.1:1", &[], &proxy), ip("10.0.0.1"));
    }
}
