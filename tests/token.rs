//! Access-token claims: an attack for every check, each asserting the exact error.

use base64::Engine;
use serde_json::{json, Value};

use dpop_gate::error::TokenError;
use dpop_gate::decision::token::{check_claims, check_typ, issuer, AccessToken, Claims, TokenPolicy};

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/partners";

fn claims(edit: impl FnOnce(&mut Value)) -> Claims {
    let mut c = json!({"iss": ISS, "aud": ["account", "https://api.example.com"], "exp": NOW + 300, "iat": NOW - 10,
                       "nbf": NOW - 10, "scope": "email webhook:write profile", "azp": "partner"});
    edit(&mut c);
    c.as_object().unwrap().clone()
}

fn check_with(c: Claims, audiences: &[&str], scopes: &[&str], skew: u64) -> Result<AccessToken, TokenError> {
    let audiences: Vec<String> = audiences.iter().map(|s| s.to_string()).collect();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let policy = TokenPolicy { issuer: ISS, audiences: &audiences, scopes_required: &scopes, clock_skew: skew };
    check_claims(c, &policy, NOW)
}

fn check(c: Claims) -> Result<AccessToken, TokenError> {
    check_with(c, &["https://api.example.com"], &["webhook:write"], 60)
}

#[test]
fn a_keycloak_shaped_token_passes() {
    let t = check(claims(|_| {})).unwrap();
    assert_eq!((t.exp, t.nbf, t.jkt), (NOW + 300, Some(NOW - 10), None));
    assert_eq!(t.claims["azp"], "partner");
    let bound = check(claims(|c| c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))).unwrap();
    assert_eq!(bound.jkt.as_deref(), Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
}

#[test]
fn issuer_is_compared_exactly() {
    assert_eq!(issuer(&claims(|_| {})), Ok(ISS));
    assert_eq!(issuer(&claims(|c| c["iss"] = json!(7))), Err(TokenError::ClaimType("iss")));
    assert_eq!(issuer(&claims(|c| drop(c.as_object_mut().unwrap().remove("iss")))), Err(TokenError::Issuer));
    for other in [format!("{ISS}/"), ISS.to_uppercase(), "https://idp.example.com/realms/other".into()] {
        assert_eq!(check(claims(|c| c["iss"] = json!(other))).unwrap_err(), TokenError::Issuer, "{other}");
    }
}

#[test]
fn time_claims() {
    let no_exp = claims(|c| drop(c.as_object_mut().unwrap().remove("exp")));
    assert_eq!(check(no_exp).unwrap_err(), TokenError::ExpMissing);
    assert_eq!(check(claims(|c| c["exp"] = json!(NOW - 61))).unwrap_err(), TokenError::Expired);
    assert_eq!(check(claims(|c| c["exp"] = json!(NOW - 60))).unwrap_err(), TokenError::Expired);
    assert!(check(claims(|c| c["exp"] = json!(NOW - 59))).is_ok(), "within the skew");
    assert_eq!(
        check_with(claims(|c| c["exp"] = json!(NOW)), &[], &[], 0).unwrap_err(),
        TokenError::Expired,
        "exp is exclusive (RFC 7519 4.1.4)"
    );
    assert_eq!(check(claims(|c| c["nbf"] = json!(NOW + 61))).unwrap_err(), TokenError::NotYetValid);
    assert!(check(claims(|c| c["nbf"] = json!(NOW + 60))).is_ok(), "nbf inclusive, within the skew");
    assert_eq!(check(claims(|c| c["iat"] = json!(NOW + 61))).unwrap_err(), TokenError::IssuedInFuture);
    // Fractional NumericDates are allowed and truncated.
    assert_eq!(check(claims(|c| c["exp"] = json!((NOW + 300) as f64 + 0.5))).unwrap().exp, NOW + 300);
}

#[test]
fn time_claims_of_the_wrong_type_are_refused() {
    for (name, v) in [
        ("exp", json!((NOW + 300).to_string())),
        ("exp", json!(-5)),
        ("exp", json!(null)),
        ("exp", json!(1e300)),
        ("nbf", json!("0")),
        ("iat", json!(true)),
        ("iat", json!({"t": 1})),
    ] {
        let name_static: &'static str = match name {
            "exp" => "exp",
            "nbf" => "nbf",
            _ => "iat",
        };
        assert_eq!(
            check(claims(|c| c[name] = v.clone())).unwrap_err(),
            TokenError::ClaimType(name_static),
            "{name}={v}"
        );
    }
}

#[test]
fn audience() {
    assert!(check(claims(|c| c["aud"] = json!("https://api.example.com"))).is_ok());
    assert_eq!(check(claims(|c| c["aud"] = json!("account"))).unwrap_err(), TokenError::Audience);
    assert_eq!(check(claims(|c| c["aud"] = json!([]))).unwrap_err(), TokenError::Audience);
    assert_eq!(check(claims(|c| drop(c.as_object_mut().unwrap().remove("aud")))).unwrap_err(), TokenError::Audience);
    assert_eq!(
        check(claims(|c| c["aud"] = json!(["https://api.example.com", 1]))).unwrap_err(),
        TokenError::ClaimType("aud")
    );
    assert_eq!(check(claims(|c| c["aud"] = json!({"a": 1}))).unwrap_err(), TokenError::ClaimType("aud"));
    // Any-of several configured audiences; no configured audience means no check.
    assert!(check_with(claims(|c| c["aud"] = json!("b")), &["a", "b"], &[], 60).is_ok());
    assert!(check_with(claims(|c| c["aud"] = json!("anything")), &[], &[], 60).is_ok());
}

#[test]
fn scopes() {
    let missing = check_with(claims(|_| {}), &[], &["webhook:write", "admin"], 60).unwrap_err();
    assert_eq!(missing, TokenError::InsufficientScope("webhook:write admin".into()));
    // No prefix or substring matches.
    assert!(check_with(claims(|c| c["scope"] = json!("webhook:writer")), &[], &["webhook:write"], 60).is_err());
    assert!(check_with(claims(|c| c["scope"] = json!("xwebhook:write")), &[], &["webhook:write"], 60).is_err());
    // `scp` as an array (Okta, Azure AD) or a string.
    let scp = claims(|c| {
        c.as_object_mut().unwrap().remove("scope");
        c["scp"] = json!(["webhook:write", "admin"]);
    });
    assert!(check_with(scp, &[], &["admin", "webhook:write"], 60).is_ok());
    let scp_str = claims(|c| c["scp"] = json!("admin"));
    assert!(check_with(scp_str, &[], &["admin", "webhook:write"], 60).is_ok());
    // A scope claim of another type grants nothing.
    let wrong = claims(|c| c["scope"] = json!(["webhook:write"]));
    assert!(matches!(check(wrong).unwrap_err(), TokenError::InsufficientScope(_)));
}

#[test]
fn scope_is_checked_last_so_only_valid_tokens_get_403() {
    let expired_and_unscoped = claims(|c| {
        c["exp"] = json!(NOW - 100);
        c["scope"] = json!("");
    });
    assert_eq!(check(expired_and_unscoped).unwrap_err(), TokenError::Expired);
}

#[test]
fn confirmation_claim() {
    assert_eq!(check(claims(|c| c["cnf"] = json!("jkt"))).unwrap_err(), TokenError::ClaimType("cnf"));
    assert_eq!(check(claims(|c| c["cnf"] = json!({"jkt": 5}))).unwrap_err(), TokenError::ClaimType("cnf"));
    assert_eq!(check(claims(|c| c["cnf"] = json!({"jkt": ""}))).unwrap_err(), TokenError::ClaimType("cnf"));
    // A confirmation by other means (mTLS `x5t#S256`, RFC 8705) binds no DPoP key; it is kept,
    // decoded, for the certificate check.
    let x5t = "NmYXo6o29e8gNYykT6Dm-M2vfdMC3XjHMNM1ZrGDX8k";
    let t = check(claims(|c| c["cnf"] = json!({"x5t#S256": x5t}))).unwrap();
    assert_eq!(t.jkt, None);
    assert_eq!(t.x5t_s256.map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)).as_deref(), Some(x5t));
    // One that names no SHA-256 thumbprint is refused: a bound token is never taken for a plain one.
    for bad in [json!("abc"), json!(""), json!(format!("{x5t}=")), json!(5)] {
        assert_eq!(check(claims(|c| c["cnf"] = json!({"x5t#S256": bad}))).unwrap_err(), TokenError::ClaimType("cnf"));
    }
    let both = check(claims(|c| c["cnf"] = json!({"x5t#S256": x5t, "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))).unwrap();
    assert!(both.jkt.is_some() && both.x5t_s256.is_some());
}

#[test]
fn cached_tokens_expire() {
    let t = check(claims(|_| {})).unwrap();
    assert_eq!(t.check_time(NOW + 359, 60), Ok(()));
    assert_eq!(t.check_time(NOW + 360, 60), Err(TokenError::Expired));
}

/// RFC 9068 section 4 with RFC 7515 section 4.1.9: `at+jwt`, with or without `application/`, in
/// any letter case; nothing else, not even a near miss.
#[test]
fn typ_must_be_at_jwt() {
    for good in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT", "APPLICATION/AT+JWT"] {
        assert_eq!(check_typ(Some(good)), Ok(()), "{good}");
    }
    for bad in [
        None,
        Some(""),
        Some("JWT"),
        Some("jwt"),
        Some("application/jwt"),
        Some("dpop+jwt"),
        Some("application/"),
        Some("application/at+jwt; charset=utf-8"),
        Some(" at+jwt"),
        Some("at+jwt "),
        Some("text/at+jwt"),
        Some("application/application/at+jwt"),
        Some("appl\u{e9}cation/at+jwt"),
        Some("at+jwt\0"),
    ] {
        assert_eq!(check_typ(bad), Err(TokenError::Typ), "{bad:?}");
    }
}
