//! `dpop-gate proof` and `dpop-gate key`: the proofs pass the filter's own verification for every
//! algorithm, keys are made once (mode 0600) and reused, the blog's jwcrypto `private.json` is
//! read as it is, and bad input is refused with a clear message and exit 2.

mod util;

use dpop_gate::dpop::{verify_proof, ProofPolicy};
use dpop_gate::error::ProofError;
use dpop_gate::jose::alg::Algorithm;
use dpop_gate::jose::jws;
use serde_json::Value;
use util::{now, run_in, TempDir};

const URL: &str = "https://api.example.com/orders/7?expand=items#top";
const REQUEST_URI: &str = "https://api.example.com/orders/7?expand=items";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwYXJ0bmVyIn0.c2ln";

fn policy() -> ProofPolicy<'static> {
    ProofPolicy { algs: &Algorithm::ALL, max_age: 60, clock_skew: 5, max_len: 16384 }
}

fn header_and_claims(proof: &str) -> (Value, Value) {
    let mut parts = proof.split('.');
    let mut decode = || serde_json::from_slice(&jws::b64_decode(parts.next().unwrap()).unwrap()).unwrap();
    (decode(), decode())
}

#[test]
fn proofs_of_every_algorithm_pass_the_filters_verification() {
    for alg in Algorithm::ALL {
        let dir = TempDir::new("alg");
        let args = ["proof", "--alg", alg.name(), "--url", URL, "-X", "POST", "--ath", TOKEN, "--nonce", "n-1"];
        let r = run_in(&dir.0, &args);
        assert_eq!(r.code, 0, "{alg:?}: {r:?}");
        assert!(r.stderr.contains(&format!("created {} key dpop-key.json (mode 0600)", alg.name())), "{r:?}");
        let proof_text = r.stdout.trim();
        let proof = verify_proof(proof_text, "POST", REQUEST_URI, Some(TOKEN), &policy(), now())
            .unwrap_or_else(|e| panic!("{alg:?}: the filter refuses the proof: {e:?}"));
        assert_eq!(proof.nonce.as_deref(), Some("n-1"));

        let (header, claims) = header_and_claims(proof_text);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], alg.name());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(header["jwk"].get(private).is_none(), "{alg:?}: jwk carries {private}");
        }
        assert_eq!(claims["htu"], "https://api.example.com/orders/7", "no query, no fragment");
        assert_eq!(claims["htm"], "POST");
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));

        // The thumbprint printed is the proof key's, as the filter computes it (`cnf.jkt`).
        let t = run_in(&dir.0, &["key", "thumbprint", "dpop-key.json"]);
        assert_eq!((t.code, t.stdout.trim()), (0, proof.jkt.as_str()), "{t:?}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path("dpop-key.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{alg:?}");
        }

        // Reused, not remade: same key, the alg remembered without --alg.
        let again = run_in(&dir.0, &["proof", "--url", URL]);
        assert_eq!(again.code, 0, "{again:?}");
        assert!(!again.stderr.contains("created"), "{again:?}");
        let second = verify_proof(again.stdout.trim(), "GET", URL, None, &policy(), now()).unwrap();
        assert_eq!(second.jkt, proof.jkt);
        assert_ne!(second.jti, proof.jti, "a fresh jti for every proof");
        assert_eq!(header_and_claims(again.stdout.trim()).0["alg"], alg.name());
    }
}

#[test]
fn a_proof_without_ath_is_refused_when_a_token_is_presented() {
    // `ath` is what ties the proof to the token: the filter requires it, the tool adds it only
    // when asked, so a proof made without --ath must fail the filter's check with a token.
    let dir = TempDir::new("ath");
    let r = run_in(&dir.0, &["proof", "--url", URL]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(verify_proof(r.stdout.trim(), "GET", URL, Some(TOKEN), &policy(), now()), Err(ProofError::Ath));
}

#[test]
fn iat_offset_back_dates_the_proof() {
    let dir = TempDir::new("iat");
    let before = now();
    let r = run_in(&dir.0, &["proof", "--url", URL, "--iat-offset", "-5"]);
    assert_eq!(r.code, 0, "{r:?}");
    let iat = header_and_claims(r.stdout.trim()).1["iat"].as_u64().unwrap();
    assert!(iat + 5 >= before && iat + 5 <= now(), "iat {iat}, now {before}");

    // Far enough ahead, the filter refuses it as the blog's Keycloak did ("not active").
    let r = run_in(&dir.0, &["proof", "--url", URL, "--iat-offset", "120"]);
    assert_eq!(verify_proof(r.stdout.trim(), "GET", URL, None, &policy(), now()), Err(ProofError::IatInFuture));
}

#[test]
fn the_blogs_jwcrypto_private_json_is_read_as_is() {
    // Made by jwcrypto 1.6.1 as the blog's main.py makes it: `JWK.generate(kty="RSA", size=2048)`,
    // `export_private()` (n, e, d, p, q, dp, dq, qi). jwcrypto's `thumbprint()` of it:
    const JWCRYPTO_THUMBPRINT: &str = "1sG8tQVuogUVT5qr6kFcOpfJOsKp_AeVc_TUAJsCzBQ";
    let dir = TempDir::new("blog");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    std::fs::copy(format!("{data}blog-private.json"), dir.path("private.json")).unwrap();
    let r = run_in(&dir.0, &["proof", "--key", "private.json", "--url", URL, "-X", "POST", "--ath", TOKEN]);
    assert_eq!(r.code, 0, "{r:?}");
    let proof = verify_proof(r.stdout.trim(), "POST", URL, Some(TOKEN), &policy(), now()).unwrap();
    assert_eq!(proof.jkt, JWCRYPTO_THUMBPRINT);
    assert_eq!(header_and_claims(r.stdout.trim()).0["alg"], "RS256", "an RSA key signs RS256 unless told");
    let ps = run_in(&dir.0, &["proof", "--key", "private.json", "--alg", "PS256", "--url", URL]);
    assert_eq!(verify_proof(ps.stdout.trim(), "GET", URL, None, &policy(), now()).unwrap().jkt, JWCRYPTO_THUMBPRINT);
    // The file is left exactly as it was.
    let original = std::fs::read(format!("{data}blog-private.json")).unwrap();
    assert_eq!(std::fs::read(dir.path("private.json")).unwrap(), original);
    // Its public half (`public.json`), and the public JWK printed, have the same thumbprint.
    for file in [format!("{data}blog-public.json"), dir.path("private.json").display().to_string()] {
        let t = run_in(&dir.0, &["key", "thumbprint", &file]);
        assert_eq!((t.code, t.stdout.trim()), (0, JWCRYPTO_THUMBPRINT), "{t:?}");
    }
    let public = run_in(&dir.0, &["key", "public", "private.json"]);
    let public: Value = serde_json::from_str(&public.stdout).unwrap();
    let blog_public: Value =
        serde_json::from_slice(&std::fs::read(format!("{data}blog-public.json")).unwrap()).unwrap();
    assert_eq!(public, blog_public);
}

#[test]
fn rfc_7638_thumbprint_example() {
    // RFC 7638 section 3.1.
    let dir = TempDir::new("rfc7638");
    let jwk = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
    let file = dir.write("rfc.json", jwk);
    let r = run_in(&dir.0, &["key", "thumbprint", &file]);
    assert_eq!((r.code, r.stdout.trim()), (0, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"), "{r:?}");
}

#[test]
fn bad_input_is_refused_clearly_with_exit_2() {
    let dir = TempDir::new("bad");
    std::fs::create_dir(dir.path("a-directory")).unwrap();
    dir.write("garbage.json", "not json");
    dir.write("public.json", r#"{"kty":"EC","crv":"P-256","x":"4V9s1G3pBtsLoDz4Y6AhdrVJImil9f_Vh80cln56MNY","y":"4qQiw_uIrHRnSghzAajyNKdTQtpcz-iS7_EkaBoUP_s"}"#);
    dir.write("oct.json", r#"{"kty":"oct","k":"c2VjcmV0","d":"x"}"#);
    let ok_key = run_in(&dir.0, &["proof", "--key", "ec.json", "--url", URL]);
    assert_eq!(ok_key.code, 0, "{ok_key:?}");
    let cases: &[(&[&str], &str)] = &[
        (&["proof", "--key", "a-directory", "--url", URL], "cannot read key file a-directory"),
        (&["proof", "--key", "garbage.json", "--url", URL], "key file garbage.json is not a JWK"),
        (&["proof", "--key", "public.json", "--url", URL], "the JWK has no private key"),
        (&["proof", "--key", "oct.json", "--url", URL], "unsupported key type oct"),
        (&["proof", "--key", "ec.json", "--alg", "RS256", "--url", URL], "--alg RS256 cannot sign with a EC P-256 key"),
        (&["proof", "--key", "no/such/dir/k.json", "--url", URL], "cannot create key file no/such/dir/k.json"),
        (&["proof", "--key", "new.json", "--url", "api.example.com/x"], "bad URL \"api.example.com/x\""),
        (&["proof", "--key", "new.json", "--url", "ftp://api.example.com/x"], "bad URL"),
        (&["proof", "--key", "new.json", "--url", "https://user:pw@api.example.com/x"], "bad URL"),
        (&["proof", "--key", "new.json", "--url", URL, "-X", "GET /x"], "bad method"),
        (&["proof", "--key", "new.json", "--url", URL, "--alg", "HS256"], "unknown algorithm \"HS256\""),
        (&["proof", "--key", "new.json", "--url", URL, "--ath", "@missing-token.txt"], "cannot read --ath"),
        (&["key", "thumbprint", "a-directory"], "cannot read key file a-directory"),
        (&["key", "thumbprint", "garbage.json"], "is not a JWK"),
        (&["key", "thumbprint", "oct.json"], "unsupported key type oct"),
        (&["key", "public", "public.json"], "the JWK has no private key"),
    ];
    for (args, message) in cases {
        let r = run_in(&dir.0, args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(message), "{args:?}: wanted {message:?} in {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    assert!(!dir.path("new.json").exists(), "a refused command must not leave a key behind");
}

#[test]
fn a_key_readable_by_others_is_warned_about() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("perm");
        assert_eq!(run_in(&dir.0, &["proof", "--url", URL]).code, 0);
        std::fs::set_permissions(dir.path("dpop-key.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = run_in(&dir.0, &["proof", "--url", URL]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains("readable by others (mode 644)"), "{r:?}");
    }
}

#[test]
fn every_command_has_help() {
    let dir = TempDir::new("help");
    let commands: &[&[&str]] = &[
        &[],
        &["proof"],
        &["key"],
        &["key", "thumbprint"],
        &["key", "public"],
        &["request"],
        &["check-config"],
        &["explain"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = run_in(&dir.0, &args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(r.stdout.contains("Usage: dpop-gate"), "{args:?}: {r:?}");
        if cmd.len() == 1 && cmd[0] != "key" || cmd.len() == 2 {
            assert!(r.stdout.contains("Exit status:"), "{args:?} documents its exit codes: {r:?}");
        }
    }
    let r = run_in(&dir.0, &["proof"]);
    assert_eq!(r.code, 2, "a missing --url is a usage error: {r:?}");
    assert!(r.stderr.contains("--url"), "{r:?}");
}
