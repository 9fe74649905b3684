// RFC 6750's challenge (`challenge = "rfc6750"`) misused: each error is on the offending
// tokens, and one invocation reports all of its errors.
use tokenauth::{User, token_auth};

// The challenge is the Bearer keyword's.
#[token_auth(keyword = "Token", challenge = "rfc6750")]
#[poem::handler]
async fn token(user: User) -> String {
    user.username
}

// A realm is sent as it is, never escaped; a scope is listed in `scope="…"`.
#[token_auth(keyword = "Bearer", challenge = "rfc6750", realm = "my \"shop\"", scopes = ["café"])]
#[poem::handler]
async fn bearer(user: User) -> String {
    user.username
}

// A realm without RFC 6750's challenge, and an unknown challenge.
tokenauth::keyword!(pub Realm = "Bearer", realm = "shop");
tokenauth::keyword!(pub Unknown = "Bearer", challenge = "oauth2");

fn main() {}
