//! `htu` normalisation (RFC 3986 sections 6.2.2 and 6.2.3; RFC 9449 section 4.3).

use dpop_gate::dpop::htu::{matches, normalize};

#[test]
fn syntax_and_scheme_based_normalisation() {
    for (input, want) in [
        ("https://api.example.com/orders", "https://api.example.com/orders"),
        ("HTTPS://API.Example.COM/orders", "https://api.example.com/orders"),
        ("https://api.example.com:443/orders", "https://api.example.com/orders"),
        ("http://api.example.com:80/orders", "http://api.example.com/orders"),
        ("http://api.example.com:0080/orders", "http://api.example.com/orders"),
        ("http://api.example.com:/orders", "http://api.example.com/orders"),
        ("http://api.example.com:443/orders", "http://api.example.com:443/orders"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com?q=1", "https://api.example.com/"),
        ("https://api.example.com/a?q=1#f", "https://api.example.com/a"),
        ("https://api.example.com/%7Euser/%61", "https://api.example.com/~user/a"),
        ("https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"),
        ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),
        ("https://api.example.com/a/%2E%2E/c", "https://api.example.com/c"),
        ("https://api.example.com/a/b/..", "https://api.example.com/a/"),
        ("https://api.example.com/../../x", "https://api.example.com/x"),
        ("https://api.example.com/a//b/", "https://api.example.com/a//b/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("https://[2001:DB8::1]/x", "https://[2001:db8::1]/x"),
    ] {
        assert_eq!(normalize(input).as_deref(), Some(want), "{input}");
    }
}

#[test]
fn refusals() {
    for input in [
        "",
        "/orders",
        "api.example.com/orders",
        "ftp://api.example.com/x",
        "https:///x",
        "https://user@api.example.com/x",
        "https://api.example.com:99999/x",
        "https://api.example.com:8o/x",
        "https://api.example.com/%zz",
        "https://api.example.com/%4",
        "https://api.example.com/a b",
        "https://api.example.com/\u{e9}",
        "https://api.example.com/\r\n",
        "https://[::1/x",
        "https://[]/x",
        "https://[::1]x/x",
        "https://a%41.example.com/x",
    ] {
        assert_eq!(normalize(input), None, "{input:?}");
    }
    assert_eq!(normalize(&format!("https://a.example/{}", "a".repeat(9000))), None);
}

#[test]
fn matching_compares_normalised_forms_only() {
    assert!(matches("https://API.example.com:443/a/../orders", "https://api.example.com/orders?x=1"));
    assert!(!matches("https://api.example.com/orders", "https://api.example.com/Orders"));
    assert!(!matches("https://api.example.com/orders/", "https://api.example.com/orders"));
    assert!(!matches("https://api.example.com/a%2Fb", "https://api.example.com/a/b"));
    assert!(!matches("/orders", "/orders"), "both unparsable is not a match");
}
