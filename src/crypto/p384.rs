//! ES384 (ECDSA over P-384 with SHA-384) verification for public keys, built for wasm32, the same
//! way as src/crypto/p256.rs (whose doc comment gives the reasons): the `p384` crate uses 64-bit
//! limbs, which wasm32 emulates (~7 ms per verification in V8). Variable-time throughout (public
//! data only):
//! - field elements mod p and scalars mod n are 14 limbs of 28 bits in Montgomery form
//!   (R = 2^392): a 28×28-bit product is one native 64-bit multiply, and the 28 products of a
//!   Montgomery column (below 2^56 each) fit in a `u64` sum with no carry per product;
//! - Jacobian coordinates (a = -3), mixed additions with affine table points;
//! - Strauss-Shamir with wNAF over the whole 384-bit scalars: the base point's 32 odd multiples
//!   are a constant (src/crypto/p384_table.rs, 3.5 KiB, checked by a test against
//!   [`base_table_source`]); a parsed key gets 8 odd multiples of its own;
//! - `s^-1 mod n` by binary extended Euclid, no final inversion: `x(R) ≡ r (mod n)` is checked as
//!   `X == r·Z^2` or `X == (r + n)·Z^2` when `r + n < p` (n < p for P-384, so both can occur).
//!
//! The `p384` crate is the reference in tests (tests/differential.rs, fuzz/verify_differential)
//! and the `rustcrypto` backend.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Limbs per element, bits per limb.
const LIMBS: usize = 14;
const BITS: u32 = 28;
const MASK: u32 = (1 << BITS) - 1;

/// A number below 2^392 as 28-bit limbs, least significant first; every limb below 2^28.
type Limbs = [u32; LIMBS];

/// An odd modulus with its Montgomery constants.
struct Modulus {
    m: Limbs,
    /// `-m^-1 mod 2^28`.
    minv: u32,
    /// `R^2 mod m`, `R = 2^392`.
    r2: Limbs,
}

impl Modulus {
    const fn new(be: &[u8; 48]) -> Modulus {
        let m = from_be(be);
        let mut inv = 1u32;
        let mut i = 0;
        while i < 5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(m[0].wrapping_mul(inv)));
            i += 1;
        }
        let minv = inv.wrapping_neg() & MASK;
        // R^2 = 2^784 mod m by doubling.
        let mut r2 = [0u32; LIMBS];
        r2[0] = 1;
        let mut i = 0;
        while i < 2 * LIMBS * BITS as usize {
            r2 = add_mod(&r2, &r2, &m);
            i += 1;
        }
        Modulus { m, minv, r2 }
    }
}

const P: Modulus = Modulus::new(&[
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
]);
const N: Modulus = Modulus::new(&[
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0,
    0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
]);
const B: [u8; 48] = [
    0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b, 0xe3, 0xf8, 0x2d, 0x19, 0x18, 0x1d, 0x9c,
    0x6e, 0xfe, 0x81, 0x41, 0x12, 0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a, 0xc6, 0x56, 0x39, 0x8d, 0x8a, 0x2e,
    0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef,
];
const GX: [u8; 48] = [
    0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74, 0x6e, 0x1d, 0x3b,
    0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38, 0x55, 0x02, 0xf2, 0x5d, 0xbf, 0x55,
    0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7,
];
const GY: [u8; 48] = [
    0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29, 0xf8, 0xf4, 0x1d,
    0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0, 0x0a, 0x60, 0xb1, 0xce, 0x1d, 0x7e,
    0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f,
];
const ZERO: Limbs = [0; LIMBS];
/// 1 in Montgomery form mod p.
const ONE_M: Limbs = to_mont(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &P);
const B_M: Limbs = to_mont(&from_be(&B), &P);

// The limb primitives below are `const fn` because the moduli and Montgomery constants are built
// from them at compile time, and a `const fn` can use neither iterators nor `get`. Each one that
// indexes allows `clippy::indexing_slicing` for that reason only: every index is a loop counter
// bounded as its comment says, over a fixed-size array, so it is in bounds. `mont_mul` is the hot
// path of ES384; `sub_mod`, not needed at compile time, uses iterators (measured as fast).

/// Big-endian 48 bytes to limbs.
#[allow(clippy::indexing_slicing)] // const fn; `i < 48`, and `j <= 384 / 28 < LIMBS`
const fn from_be(b: &[u8; 48]) -> Limbs {
    let mut out = [0u32; LIMBS];
    let (mut acc, mut nbits, mut j, mut i) = (0u64, 0u32, 0usize, 48usize);
    while i > 0 {
        i -= 1;
        acc |= (b[i] as u64) << nbits;
        nbits += 8;
        if nbits >= BITS {
            out[j] = (acc as u32) & MASK;
            acc >>= BITS;
            nbits -= BITS;
            j += 1;
        }
    }
    out[j] = acc as u32;
    out
}

/// Limbs (a value below 2^384) to big-endian 48 bytes.
fn to_be(a: &Limbs) -> [u8; 48] {
    let mut out = [0u8; 48];
    let (mut acc, mut nbits) = (0u64, 0u32);
    let mut limbs = a.iter();
    for o in out.iter_mut().rev() {
        if nbits < 8 {
            acc |= u64::from(limbs.next().copied().unwrap_or(0)) << nbits;
            nbits += BITS;
        }
        *o = acc as u8;
        acc >>= 8;
        nbits -= 8;
    }
    out
}

#[inline(always)]
#[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
const fn geq(a: &Limbs, b: &Limbs) -> bool {
    let mut i = LIMBS;
    while i > 0 {
        i -= 1;
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

/// `a + b` (below 2^392).
#[inline(always)]
#[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
const fn add(a: &Limbs, b: &Limbs) -> Limbs {
    let mut out = [0u32; LIMBS];
    let mut c = 0u32;
    let mut i = 0;
    while i < LIMBS {
        let v = a[i] + b[i] + c;
        out[i] = v & MASK;
        c = v >> BITS;
        i += 1;
    }
    out
}

/// `a - b` for `a >= b`.
#[inline(always)]
#[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
const fn sub(a: &Limbs, b: &Limbs) -> Limbs {
    let mut out = [0u32; LIMBS];
    let mut borrow = 0u32;
    let mut i = 0;
    while i < LIMBS {
        let v = a[i].wrapping_sub(b[i]).wrapping_sub(borrow);
        out[i] = v & MASK;
        borrow = v >> 31;
        i += 1;
    }
    out
}

/// `a + b mod m` for `a, b < m`: sum, then `sum - m` kept unless it borrowed. Branch-free: which
/// way it goes is data-dependent and unpredictable, so a branch would mostly mispredict.
#[inline(always)]
#[allow(clippy::indexing_slicing)] // const fn; `i < LIMBS`
const fn add_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let s = add(a, b);
    let mut d = [0u32; LIMBS];
    let mut borrow = 0u32;
    let mut i = 0;
    while i < LIMBS {
        let v = s[i].wrapping_sub(m[i]).wrapping_sub(borrow);
        d[i] = v & MASK;
        borrow = v >> 31;
        i += 1;
    }
    // Keep `s` when `s - m` borrowed (s < m): mask is all ones then.
    let keep = borrow.wrapping_neg();
    let mut i = 0;
    while i < LIMBS {
        d[i] = (s[i] & keep) | (d[i] & !keep);
        i += 1;
    }
    d
}

/// `a - b mod m` for `a, b < m`: difference, plus `m` if it borrowed (branch-free, as above).
#[inline(always)]
fn sub_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let mut d = [0u32; LIMBS];
    let mut borrow = 0u32;
    for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
        let v = a.wrapping_sub(*b).wrapping_sub(borrow);
        *d = v & MASK;
        borrow = v >> 31;
    }
    let mask = borrow.wrapping_neg() & MASK;
    let mut c = 0u32;
    for (d, m) in d.iter_mut().zip(m) {
        let v = *d + (m & mask) + c;
        *d = v & MASK;
        c = v >> BITS;
    }
    d
}

/// Montgomery product `a·b / R mod m`, fully reduced, for `a·b < R·m` (any `a·b < R·m`).
/// Product scanning: column `i` sums every `a_j·b_(i-j)` and `q_j·m_(i-j)`; at most 28 products
/// below 2^56 each, so a column never overflows 64 bits. The result is below `2m` before the final
/// subtraction.
#[allow(clippy::indexing_slicing)] // const fn; `j`, `i - j`, `i - LIMBS` below `LIMBS` by the loop bounds
const fn mont_mul(a: &Limbs, b: &Limbs, md: &Modulus) -> Limbs {
    let m = &md.m;
    let mut q = [0u32; LIMBS];
    let mut r = [0u32; LIMBS];
    let mut acc = 0u64;
    let mut i = 0;
    while i < LIMBS {
        let mut j = 0;
        while j < i {
            acc += a[j] as u64 * b[i - j] as u64 + q[j] as u64 * m[i - j] as u64;
            j += 1;
        }
        acc += a[i] as u64 * b[0] as u64;
        let qi = (acc as u32).wrapping_mul(md.minv) & MASK;
        q[i] = qi;
        acc += qi as u64 * m[0] as u64;
        acc >>= BITS;
        i += 1;
    }
    while i < 2 * LIMBS - 1 {
        let mut j = i + 1 - LIMBS;
        while j < LIMBS {
            acc += a[j] as u64 * b[i - j] as u64 + q[j] as u64 * m[i - j] as u64;
            j += 1;
        }
        r[i - LIMBS] = (acc as u32) & MASK;
        acc >>= BITS;
        i += 1;
    }
    r[LIMBS - 1] = acc as u32;
    if geq(&r, m) {
        sub(&r, m)
    } else {
        r
    }
}

const fn to_mont(a: &Limbs, md: &Modulus) -> Limbs {
    mont_mul(a, &md.r2, md)
}

fn from_mont(a: &Limbs, md: &Modulus) -> Limbs {
    mont_mul(a, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], md)
}

/// Halves `a`, which is even.
#[inline(always)]
fn shr1(a: &mut Limbs) {
    let mut high = 0u32;
    for l in a.iter_mut().rev() {
        let low = *l & 1;
        *l = (*l >> 1) | (high << (BITS - 1));
        high = low;
    }
}

/// `x / 2 mod m` for `x < m`, `m` odd.
#[inline(always)]
fn half_mod(x: &mut Limbs, m: &Limbs) {
    if x[0] & 1 == 1 {
        *x = add(x, m);
    }
    shr1(x);
}

/// `a^-1 mod m` (plain, not Montgomery form) for `0 < a < m`, `m` an odd prime: binary extended
/// Euclid, variable time. Invariants: `x1·a ≡ u` and `x2·a ≡ v (mod m)`. `None` for `a = 0`
/// (and, as a guard, if the loop bound is hit, which a prime `m` never allows).
fn invert(a: &Limbs, m: &Limbs) -> Option<Limbs> {
    const ONE: Limbs = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    if *a == ZERO {
        return None;
    }
    let (mut u, mut v, mut x1, mut x2) = (*a, *m, ONE, ZERO);
    // Each round removes at least one bit from u or v (768 bits in all), so this bound is generous.
    for _ in 0..4096 {
        if u == ONE {
            return Some(x1);
        }
        if v == ONE {
            return Some(x2);
        }
        if u == ZERO || v == ZERO {
            return None;
        }
        while u[0] & 1 == 0 {
            shr1(&mut u);
            half_mod(&mut x1, m);
        }
        while v[0] & 1 == 0 {
            shr1(&mut v);
            half_mod(&mut x2, m);
        }
        if geq(&u, &v) {
            u = sub(&u, &v);
            x1 = sub_mod(&x1, &x2, m);
        } else {
            v = sub(&v, &u);
            x2 = sub_mod(&x2, &x1, m);
        }
    }
    None
}

#[inline(always)]
fn fmul(a: &Limbs, b: &Limbs) -> Limbs {
    mont_mul(a, b, &P)
}
#[inline(always)]
fn fsqr(a: &Limbs) -> Limbs {
    mont_mul(a, a, &P)
}
#[inline(always)]
fn fadd(a: &Limbs, b: &Limbs) -> Limbs {
    add_mod(a, b, &P.m)
}
#[inline(always)]
fn fsub(a: &Limbs, b: &Limbs) -> Limbs {
    sub_mod(a, b, &P.m)
}

/// An affine point, coordinates in Montgomery form; never the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine {
    pub(crate) x: Limbs,
    pub(crate) y: Limbs,
}

/// A Jacobian point `(X/Z^2, Y/Z^3)`, Montgomery form; `Z = 0` is the identity.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Limbs,
    y: Limbs,
    z: Limbs,
}

const IDENTITY: Jacobian = Jacobian { x: ONE_M, y: ONE_M, z: ZERO };

impl Jacobian {
    fn from_affine(p: &Affine) -> Jacobian {
        Jacobian { x: p.x, y: p.y, z: ONE_M }
    }

    /// dbl-2001-b (a = -3), with `Z3 = 2·Y·Z`, `4β = X·4γ`, `8γ² = 2(2γ)²`: 4M + 4S. The identity doubles to itself; P-384 has
    /// no point of order 2. The two factors of alpha are left unreduced (`3t < 3p`, `X + delta < 2p`):
    /// their product is below `R·p`, which is all [`mont_mul`] needs.
    fn double(&self) -> Jacobian {
        if self.z == ZERO {
            return *self;
        }
        let delta = fsqr(&self.z);
        let gamma = fsqr(&self.y);
        let t = fsub(&self.x, &delta);
        let alpha = fmul(&add(&add(&t, &t), &t), &add(&self.x, &delta));
        // 4·beta = X·4γ and 8γ² = 2·(2γ)²: two doublings of γ serve both.
        let gamma2 = fadd(&gamma, &gamma);
        let beta4 = fmul(&self.x, &fadd(&gamma2, &gamma2));
        let x = fsub(&fsqr(&alpha), &fadd(&beta4, &beta4));
        let yz = fmul(&self.y, &self.z);
        let z = fadd(&yz, &yz);
        let g4 = fsqr(&gamma2);
        let y = fsub(&fmul(&alpha, &fsub(&beta4, &x)), &fadd(&g4, &g4));
        Jacobian { x, y, z }
    }

    /// `self + (x2, y2, z2)`; `z2 = None` means an affine point (mixed addition, 8M + 3S).
    /// Equal points go to [`Self::double`], opposite points give the identity.
    fn add(&self, x2: &Limbs, y2: &Limbs, z2: Option<&Limbs>) -> Jacobian {
        if z2 == Some(&ZERO) {
            return *self;
        }
        if self.z == ZERO {
            return Jacobian { x: *x2, y: *y2, z: z2.copied().unwrap_or(ONE_M) };
        }
        let z1z1 = fsqr(&self.z);
        let (u1, s1) = match z2 {
            None => (self.x, self.y),
            Some(z2) => {
                let z2z2 = fsqr(z2);
                (fmul(&self.x, &z2z2), fmul(&self.y, &fmul(z2, &z2z2)))
            }
        };
        let u2 = fmul(x2, &z1z1);
        let s2 = fmul(y2, &fmul(&self.z, &z1z1));
        let h = fsub(&u2, &u1);
        let r = fsub(&s2, &s1);
        if h == ZERO {
            return if r == ZERO { self.double() } else { IDENTITY };
        }
        let hh = fsqr(&h);
        let hhh = fmul(&h, &hh);
        let v = fmul(&u1, &hh);
        let x = fsub(&fsub(&fsqr(&r), &hhh), &fadd(&v, &v));
        let y = fsub(&fmul(&r, &fsub(&v, &x)), &fmul(&s1, &hhh));
        let z = fmul(&self.z, &h);
        let z = match z2 {
            None => z,
            Some(z2) => fmul(&z, z2),
        };
        Jacobian { x, y, z }
    }

    fn add_affine(&self, p: &Affine, negate: bool) -> Jacobian {
        if negate {
            self.add(&p.x, &fsub(&ZERO, &p.y), None)
        } else {
            self.add(&p.x, &p.y, None)
        }
    }
}

/// Affine forms of `points` (none the identity) with one inversion (Montgomery's trick).
fn normalize(points: &[Jacobian]) -> Option<Vec<Affine>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = ONE_M;
    for p in points {
        prefix.push(acc);
        acc = fmul(&acc, &p.z);
    }
    // (Z_0···Z_(K-1))^-1, back in Montgomery form.
    let mut inv = to_mont(&invert(&from_mont(&acc, &P), &P.m)?, &P);
    let mut out = vec![Affine { x: ZERO, y: ZERO }; points.len()];
    for ((o, p), pre) in out.iter_mut().zip(points).rev().zip(prefix.iter().rev()) {
        let zinv = fmul(&inv, pre);
        inv = fmul(&inv, &p.z);
        let zinv2 = fsqr(&zinv);
        *o = Affine { x: fmul(&p.x, &zinv2), y: fmul(&p.y, &fmul(&zinv2, &zinv)) };
    }
    Some(out)
}

/// Odd multiples `1·P, 3·P, …, (2K-1)·P`, affine.
fn odd_multiples<const K: usize>(p: &Affine) -> Option<[Affine; K]> {
    let base = Jacobian::from_affine(p);
    let twice = base.double();
    let mut jac = Vec::with_capacity(K);
    let mut cur = base;
    jac.push(cur);
    for _ in 1..K {
        cur = cur.add(&twice.x, &twice.y, Some(&twice.z));
        jac.push(cur);
    }
    let affine = normalize(&jac)?;
    let mut out = [*p; K];
    out.copy_from_slice(&affine);
    Some(out)
}

/// wNAF widths: a parsed key's table (8 odd multiples: cheap to build for a key used once) and the
/// base point's (32, a 3.5 KiB constant).
const KEY_W: usize = 5;
const KEY_K: usize = 1 << (KEY_W - 2);
const BASE_W: usize = 7;
pub(crate) const BASE_K: usize = 1 << (BASE_W - 2);

/// The base point table as Rust source (src/crypto/p384_table.rs is this, checked in; a test in
/// tests/differential.rs compares them).
#[doc(hidden)]
pub fn base_table_source() -> Option<alloc::string::String> {
    use core::fmt::Write;
    let g = Affine { x: to_mont(&from_be(&GX), &P), y: to_mont(&from_be(&GY), &P) };
    let table = odd_multiples::<BASE_K>(&g)?;
    let mut s = alloc::string::String::new();
    s.push_str("//! Odd multiples `1, 3, …, 63` of G for P-384, affine, Montgomery form (R = 2^392), 28-bit\n");
    s.push_str("//! limbs. Generated by `crypto::p384::base_table_source`; tests/differential.rs checks it\n");
    s.push_str("//! (`P384_TABLE_UPDATE=1` there rewrites it).\n\n");
    s.push_str("use crate::crypto::p384::{Affine, BASE_K};\n\n");
    s.push_str("#[rustfmt::skip]\npub(crate) static BASE_TABLE: [Affine; BASE_K] = [\n");
    for p in &table {
        let _ = writeln!(s, "    Affine {{ x: {:?}, y: {:?} }},", p.x, p.y);
    }
    s.push_str("];\n");
    Some(s)
}

/// wNAF digits of a scalar below 2^384 (385 positions, least significant first): odd digits in
/// `(-2^(w-1), 2^(w-1))`, any two nonzero digits at least `w` apart. Where the running value is
/// odd, its low `w` bits become one signed digit `d`, and `window - d` (0 or `2^w`) carries on.
fn wnaf384(s: &Limbs, w: usize) -> [i8; 385] {
    let be = to_be(s);
    let bit = |i: usize| u32::from(be.get(47usize.wrapping_sub(i / 8)).copied().unwrap_or(0) >> (i % 8)) & 1;
    let mut out = [0i8; 385];
    let (mut carry, mut i) = (0u32, 0usize);
    while i < 385 {
        let b = bit(i) + carry;
        if b & 1 == 0 {
            carry = b >> 1;
            i += 1;
            continue;
        }
        let mut window = carry;
        for j in 0..w {
            window += bit(i + j) << j;
        }
        let full = 1i32 << w;
        let mut d = (window as i32) & (full - 1);
        if d >= full / 2 {
            d -= full;
        }
        carry = ((window as i32 - d) >> w) as u32;
        if let Some(o) = out.get_mut(i) {
            *o = d as i8;
        }
        i += w;
    }
    out
}

/// Adds the table entry for `digit` (odd when nonzero; zero or absent adds nothing) to `acc`.
fn add_digit<const K: usize>(acc: &Jacobian, table: &[Affine; K], digit: Option<&i8>) -> Jacobian {
    match digit {
        Some(&d) if d != 0 => match table.get(usize::from(d.unsigned_abs() / 2)) {
            Some(p) => acc.add_affine(p, d < 0),
            None => *acc,
        },
        _ => *acc,
    }
}

/// A validated P-384 public key with its table of odd multiples (0.9 KiB).
#[derive(Clone, Debug)]
pub struct P384Key {
    table: Box<[Affine; KEY_K]>,
}

impl P384Key {
    /// Validates the affine point (big-endian coordinates): each below p and on the curve
    /// `y^2 = x^3 - 3x + b` (an affine point is never the identity), then builds its table.
    pub fn new(x: &[u8; 48], y: &[u8; 48]) -> Option<P384Key> {
        let (x, y) = (from_be(x), from_be(y));
        if geq(&x, &P.m) || geq(&y, &P.m) {
            return None;
        }
        let (x, y) = (to_mont(&x, &P), to_mont(&y, &P));
        let x3 = fmul(&fsqr(&x), &x);
        let three_x = fadd(&fadd(&x, &x), &x);
        if fsqr(&y) != fadd(&fsub(&x3, &three_x), &B_M) {
            return None;
        }
        let table = odd_multiples::<KEY_K>(&Affine { x, y })?;
        Some(P384Key { table: Box::new(table) })
    }

    /// ECDSA verification (SEC 1 4.1.4) of the SHA-384 `digest` with a raw `r || s` signature.
    pub fn verify(&self, digest: &[u8; 48], sig: &[u8; 96]) -> bool {
        let (mut r_be, mut s_be) = ([0u8; 48], [0u8; 48]);
        r_be.copy_from_slice(&sig[..48]);
        s_be.copy_from_slice(&sig[48..]);
        let (r, s) = (from_be(&r_be), from_be(&s_be));
        // r, s in [1, n-1].
        if r == ZERO || s == ZERO || geq(&r, &N.m) || geq(&s, &N.m) {
            return false;
        }
        // e = digest mod n (384-bit hash, n is 384 bits: at most one subtraction).
        let e = from_be(digest);
        let e = if geq(&e, &N.m) { sub(&e, &N.m) } else { e };
        let Some(s_inv) = invert(&s, &N.m) else { return false };
        // With w = s^-1·R: mont(e, w) = e·s^-1, mont(r, w) = r·s^-1 (plain).
        let w = to_mont(&s_inv, &N);
        let (u1, u2) = (mont_mul(&e, &w, &N), mont_mul(&r, &w, &N));
        let (g_digits, q_digits) = (wnaf384(&u1, BASE_W), wnaf384(&u2, KEY_W));
        let base = &crate::crypto::p384_table::BASE_TABLE;
        let mut acc = IDENTITY;
        for i in (0..385).rev() {
            acc = acc.double();
            acc = add_digit(&acc, base, g_digits.get(i));
            acc = add_digit(&acc, &self.table, q_digits.get(i));
        }
        if acc.z == ZERO {
            return false;
        }
        // x(R) mod n == r, i.e. X/Z^2 ∈ {r, r + n} (r + n only when below p).
        let zz = fsqr(&acc.z);
        if fmul(&to_mont(&r, &P), &zz) == acc.x {
            return true;
        }
        let rn = add(&r, &N.m);
        !geq(&rn, &P.m) && fmul(&to_mont(&rn, &P), &zz) == acc.x
    }
}
