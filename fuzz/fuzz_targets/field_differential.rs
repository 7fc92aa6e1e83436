//! Field-level differential: the arithmetic the fast verifiers are built from, against a bignum
//! (`num-bigint-dig`'s `BigUint`, as the `rsa` crate re-exports it; no code shared with ours).
//! Any disagreement is a crash. Signature-level tests (verify_differential) reach these paths only
//! through whole verifications, where a wrong carry in one rare limb pattern can hide; here the
//! fuzzer picks the operands.
//!
//! Input: one selector byte, then operands.
//! - selector bit 0 clear: P-256 (`crypto::p256::arith`), mod p (bit 1 clear) or mod n (bit 1
//!   set); bits 2..5 the operation; then `a` and `b`, 32 big-endian bytes each, and one byte of
//!   bits above 2^256 for each (the limbs hold 261 bits: `MontMul` takes unreduced inputs). Each
//!   operation is checked under its precondition, and inputs that break it are reduced or
//!   skipped, never compared.
//! - selector bit 0 set: RSA's Montgomery multiplication and squaring (`crypto::rsa::mont_op`):
//!   a modulus of 1 to 520 bytes (made odd, top octet nonzero) and two operands reduced below it,
//!   the rest of the input split in three by the selector's complement.
#![no_main]

use dpop_gate::crypto::p256::{arith, ArithOp};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rsa::BigUint;

const P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn be32(v: &BigUint) -> [u8; 32] {
    let bytes = v.to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

fn p256(selector: u8, data: &[u8]) {
    const OPS: [ArithOp; 7] = [
        ArithOp::MontMul,
        ArithOp::Mul,
        ArithOp::Add,
        ArithOp::Sub,
        ArithOp::Invert,
        ArithOp::ToMont,
        ArithOp::FromMont,
    ];
    let scalar = selector & 2 != 0;
    let op = OPS[usize::from(selector >> 2) % OPS.len()];
    let m = BigUint::parse_bytes(if scalar { N } else { P }.as_bytes(), 16).unwrap();
    let r = BigUint::from(1u32) << 261usize;
    let mut input = [0u8; 66];
    input[..data.len().min(66)].copy_from_slice(&data[..data.len().min(66)]);
    let operand = |bytes: &[u8], high: u8| {
        let be: [u8; 32] = bytes.try_into().unwrap();
        let high = u32::from(high & 0x1f);
        (be, high, BigUint::from_bytes_be(&be) + (BigUint::from(high) << 256usize))
    };
    let (mut a, mut a_high, mut av) = operand(&input[0..32], input[64]);
    let (mut b, mut b_high, mut bv) = operand(&input[32..64], input[65]);
    // Every operation but the wide ones takes reduced operands: reduce them (the fuzzer still
    // reaches m - 1, 0 and the like by choosing them).
    if !matches!(op, ArithOp::MontMul | ArithOp::ToMont | ArithOp::FromMont) {
        av %= &m;
        bv %= &m;
        (a, a_high, b, b_high) = (be32(&av), 0, be32(&bv), 0);
    }
    // R^-1 mod p and mod n, once: a modpow per input would be most of the run.
    static R_INV: OnceLock<[BigUint; 2]> = OnceLock::new();
    let r_inv = &R_INV.get_or_init(|| {
        [P, N].map(|h| {
            let m = BigUint::parse_bytes(h.as_bytes(), 16).unwrap();
            (BigUint::from(1u32) << 261usize).modpow(&(&m - 2u32), &m)
        })
    })[usize::from(scalar)];
    let want = match op {
        ArithOp::MontMul => {
            if &av * &bv >= &r * &m {
                return;
            }
            Some(&av * &bv * r_inv % &m)
        }
        ArithOp::Mul => Some(&av * &bv % &m),
        ArithOp::Add => Some((&av + &bv) % &m),
        ArithOp::Sub => Some((&av + &m - &bv) % &m),
        ArithOp::Invert => {
            // The inverse is the one x < m with a·x ≡ 1: check that, rather than a modpow.
            let got = arith(op, scalar, (&a, a_high), (&b, b_high));
            match got {
                None => assert_eq!(av, BigUint::from(0u32), "Invert scalar={scalar}: none for {av:x}"),
                Some(x) => {
                    let x = BigUint::from_bytes_be(&x);
                    assert!(x < m && &av * &x % &m == BigUint::from(1u32), "Invert scalar={scalar} a={av:x}: {x:x}");
                }
            }
            return;
        }
        ArithOp::ToMont => Some(&av * &r % &m),
        ArithOp::FromMont => Some(&av * r_inv % &m),
    };
    let got = arith(op, scalar, (&a, a_high), (&b, b_high));
    assert_eq!(got, want.as_ref().map(be32), "{op:?} scalar={scalar} a={av:x} b={bv:x}");
}

fn rsa_mont(selector: u8, data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == !selector);
    let (Some(n), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next()) else { return };
    if n.is_empty() || n.len() > 520 {
        return;
    }
    let mut n = n.to_vec();
    n[0] |= 0x80 >> (selector >> 5);
    *n.last_mut().unwrap() |= 1;
    let nv = BigUint::from_bytes_be(&n);
    if nv < BigUint::from(3u32) {
        return;
    }
    let (av, bv) = (BigUint::from_bytes_be(a) % &nv, BigUint::from_bytes_be(b) % &nv);
    let square = selector & 2 != 0;
    let product = if square { &av * &av } else { &av * &bv };
    let (got, r_bits) = dpop_gate::crypto::rsa::mont_op(&n, &av.to_bytes_be(), &bv.to_bytes_be(), square).unwrap();
    assert_eq!(got.len(), n.len());
    assert!(r_bits >= 8 * n.len() && r_bits % 112 == 0, "R = 2^{r_bits} for {} bytes", n.len());
    // The Montgomery product is the one x < n with x·R ≡ a·b (mod n) (R is invertible: n is odd).
    // Checked as that, since R^-1 mod n would cost a modpow per input.
    let x = BigUint::from_bytes_be(&got);
    assert!(x < nv && (&x << r_bits) % &nv == product % &nv, "n={nv:x} a={av:x} b={bv:x} square={square}: {x:x}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    if selector & 1 == 0 {
        p256(selector, rest);
    } else {
        rsa_mont(selector, rest);
    }
});
