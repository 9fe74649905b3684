//! The `Authorization` header parser.

use tokenauth::parse_authorization;

const KEYWORDS: &[&str] = &["Token", "Bearer", "Api-Key", "t", "TOKEN", "bEaReR"];

/// Python's `bytes.split()` whitespace (a superset of `u8::is_ascii_whitespace`).
fn is_python_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn flip_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// `tokenauth::parse_authorization`: never panics; a key is a whitespace-free slice of the
/// header; the keyword's ASCII case never matters; `<keyword> <k>` gives `k` back.
///
/// `data[0]` picks the keyword (one of a few, or with its high bit set the header's own first
/// word); the rest is the header.
///
/// ```
/// tokenauth_fuzz_properties::header(b"\x00Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b");
/// tokenauth_fuzz_properties::header(b"\x80Bearer a b");
/// ```
pub fn header(data: &[u8]) {
    let Some((&selector, header)) = data.split_first() else {
        assert_eq!(parse_authorization(None, "Token"), Ok(None));
        return;
    };
    // The keyword: one of a few, or (high bit set) the header's own first word when it is
    // UTF-8, so that the matching path is reached as often as the non-matching one.
    let own_first_word = header
        .split(|&b| is_python_whitespace(b))
        .find(|w| !w.is_empty())
        .and_then(|w| std::str::from_utf8(w).ok());
    let keyword = match own_first_word {
        Some(word) if selector & 0x80 != 0 => word,
        _ => KEYWORDS[usize::from(selector) % KEYWORDS.len()],
    };

    let result = parse_authorization(Some(header), keyword);

    if let Ok(Some(key)) = result {
        // The key borrows from the header itself...
        let range = header.as_ptr_range();
        assert!(range.contains(&key.as_ptr()), "key not inside the header");
        let start = key.as_ptr() as usize - header.as_ptr() as usize;
        assert_eq!(&header[start..start + key.len()], key.as_bytes());
        // ...is a whole non-empty word without whitespace...
        assert!(!key.is_empty());
        assert!(
            !key.bytes().any(is_python_whitespace),
            "whitespace in {key:?}"
        );
        assert!(!key.bytes().any(|b| b.is_ascii_whitespace()));
        // ...and the header started with the keyword.
        let first = header
            .split(|&b| is_python_whitespace(b))
            .find(|w| !w.is_empty())
            .unwrap();
        assert!(first.eq_ignore_ascii_case(keyword.as_bytes()));
    }
    if result.is_err() {
        let first = header
            .split(|&b| is_python_whitespace(b))
            .find(|w| !w.is_empty())
            .expect("an error needs the keyword word");
        assert!(first.eq_ignore_ascii_case(keyword.as_bytes()));
    }

    // The keyword's ASCII case does not matter.
    for other in [
        flip_case(keyword),
        keyword.to_ascii_uppercase(),
        keyword.to_ascii_lowercase(),
    ] {
        assert_eq!(
            parse_authorization(Some(header), &other),
            result,
            "keyword {keyword:?} vs {other:?}"
        );
    }

    // `<keyword> <k>` with k non-empty visible ASCII gives k back, whatever the case and
    // surrounding whitespace.
    if !header.is_empty() && header.iter().all(u8::is_ascii_graphic) {
        let k = std::str::from_utf8(header).unwrap();
        for built in [
            format!("{keyword} {k}"),
            format!(" \t{} {k}\r\n", flip_case(keyword)),
        ] {
            assert_eq!(
                parse_authorization(Some(built.as_bytes()), keyword),
                Ok(Some(k)),
                "header {built:?}"
            );
        }
    }
}
