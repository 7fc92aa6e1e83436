//! ES256 (ECDSA over P-256 with SHA-256) verification for public keys, built for wasm32.
//!
//! Why not the `p256` crate here: it is constant-time and uses 64-bit limbs, and wasm32 emulates
//! 64×64→128-bit products, so one verification costs ~2 ms in V8. Verification handles only public
//! data (key, message, signature), so this module is variable-time throughout:
//! - field elements mod p and scalars mod n are 9 limbs of 29 bits in Montgomery form
//!   (R = 2^261): a 29×29-bit product is one native 64-bit multiply, and 18 of them fit in a `u64`
//!   column sum, so Montgomery multiplication (product scanning) needs no carry per product;
//! - Jacobian coordinates (a = -3 doubling), mixed additions with affine table points;
//! - Strauss-Shamir with wNAF: `u1·G + u2·Q` in one loop of shared doublings. The base point's
//!   table is a constant (src/crypto/p256_table.rs, checked by a test against [`base_table`]). A parsed
//!   key ([`P256Key::new`]) has a small table (256 doublings per verification); a key that will
//!   verify many signatures gets a split table once ([`P256Key::precompute`]): both scalars are
//!   cut in eight 32-bit chunks, `u·P = Σ u_i·(2^(32i)·P)`, so 32 doublings serve sixteen wNAF
//!   streams;
//! - `s^-1 mod n` by the binary extended Euclidean algorithm, and no final inversion: `x(R) ≡ r`
//!   is checked as `X == r·Z^2` (and `(r + n)·Z^2` when `r + n < p`).
//!
//! The `p256` crate stays the reference in tests (tests/differential.rs).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Limbs per element, bits per limb.
const LIMBS: usize = 9;
const BITS: u32 = 29;
const MASK: u32 = (1 << BITS) - 1;

/// A number below 2^261 as 29-bit limbs, least significant first; every limb below 2^29.
type Limbs = [u32; LIMBS];

/// An odd modulus with its Montgomery constants.
struct Modulus {
    m: Limbs,
    /// `-m^-1 mod 2^29`.
    minv: u32,
    /// `R^2 mod m`, `R = 2^261`.
    r2: Limbs,
}

impl Modulus {
    const fn new(be: &[u8; 32]) -> Modulus {
        let m = from_be(be);
        let mut inv = 1u32;
        let mut i = 0;
        while i < 5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(m[0].wrapping_mul(inv)));
            i += 1;
        }
        let minv = inv.wrapping_neg() & MASK;
        // R^2 = 2^522 mod m by doubling.
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
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
]);
const N: Modulus = Modulus::new(&[
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
]);
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06,
    0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d,
    0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const GY: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
    0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];
const ZERO: Limbs = [0; LIMBS];
/// 1 in Montgomery form mod p.
const ONE_M: Limbs = to_mont(&[1, 0, 0, 0, 0, 0, 0, 0, 0], &P);
const B_M: Limbs = to_mont(&from_be(&B), &P);

// The limb primitives below are `const fn` because the moduli and Montgomery constants are built
// from them at compile time, and a `const fn` can use neither iterators nor `get`. Each one that
// indexes allows `clippy::indexing_slicing` for that reason only: every index is a loop counter
// bounded as its comment says, over a fixed-size array, so it is in bounds. `mont_mul` is the hot
// path of ES256; `sub_mod`, not needed at compile time, uses iterators (measured as fast).

/// Big-endian 32 bytes to limbs.
#[allow(clippy::indexing_slicing)] // const fn; `i < 32`, and `j <= 256 / 29 < LIMBS`
const fn from_be(b: &[u8; 32]) -> Limbs {
    let mut out = [0u32; LIMBS];
    let (mut acc, mut nbits, mut j, mut i) = (0u64, 0u32, 0usize, 32usize);
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

/// Limbs (a value below 2^256) to big-endian 32 bytes.
fn to_be(a: &Limbs) -> [u8; 32] {
    let mut out = [0u8; 32];
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

/// `a + b` (below 2^261).
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

/// Montgomery product `a·b / R mod m`, fully reduced, for `a·b < R·m` (any inputs below 2^257).
/// Product scanning: column `i` sums every `a_j·b_(i-j)` and `q_j·m_(i-j)`; at most 18 products
/// below 2^58 each, so a column never overflows 64 bits. The result is below `2m` before the final
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
    mont_mul(a, &[1, 0, 0, 0, 0, 0, 0, 0, 0], md)
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
    const ONE: Limbs = [1, 0, 0, 0, 0, 0, 0, 0, 0];
    if *a == ZERO {
        return None;
    }
    let (mut u, mut v, mut x1, mut x2) = (*a, *m, ONE, ZERO);
    // Each round removes at least one bit from u or v (512 bits in all), so this bound is generous.
    for _ in 0..2048 {
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
    // A dedicated squaring (126 products instead of 162) measured slower in V8: it does not unroll
    // as cleanly.
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

    /// dbl-2001-b (a = -3), with `Z3 = 2·Y·Z`, `4β = X·4γ`, `8γ² = 2(2γ)²`: 4M + 4S. The identity doubles to itself; P-256 has
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

/// Odd multiples `1·P, 3·P, …, (2K-1)·P` of `2^(32i)·P` for `i = 0..ROWS`, affine.
fn odd_multiples<const K: usize, const ROWS: usize>(p: &Affine) -> Option<[[Affine; K]; ROWS]> {
    let mut jac = Vec::with_capacity(ROWS * K);
    let mut base = Jacobian::from_affine(p);
    for row in 0..ROWS {
        let twice = base.double();
        let mut cur = base;
        jac.push(cur);
        for _ in 1..K {
            cur = cur.add(&twice.x, &twice.y, Some(&twice.z));
            jac.push(cur);
        }
        if row + 1 < ROWS {
            for _ in 0..CHUNK_BITS {
                base = base.double();
            }
        }
    }
    let affine = normalize(&jac)?;
    let mut out = [[*p; K]; ROWS];
    for (row, chunk) in out.iter_mut().zip(affine.chunks_exact(K)) {
        row.copy_from_slice(chunk);
    }
    Some(out)
}

/// Scalars split in `SPLIT` chunks of `CHUNK_BITS` bits for keys with split tables and the base point.
pub(crate) const SPLIT: usize = 8;
const CHUNK_BITS: usize = 256 / SPLIT;

/// wNAF widths: a parsed key's small table (8 odd multiples: cheap to build for a key used once),
/// a precomputed key's rows (16 odd multiples each, 9 KiB in all), the base point's rows (32 each,
/// 18 KiB of constants). Wider windows mean fewer additions per verification.
const KEY_W: usize = 5;
const KEY_K: usize = 1 << (KEY_W - 2);
const SPLIT_W: usize = 6;
const SPLIT_K: usize = 1 << (SPLIT_W - 2);
const BASE_W: usize = 7;
pub(crate) const BASE_K: usize = 1 << (BASE_W - 2);

/// The base point table; the constant in src/crypto/p256_table.rs is this, computed once and checked in.
#[doc(hidden)]
pub fn base_table() -> Option<[[Affine; BASE_K]; SPLIT]> {
    let g = Affine { x: to_mont(&from_be(&GX), &P), y: to_mont(&from_be(&GY), &P) };
    odd_multiples::<BASE_K, SPLIT>(&g)
}

/// The base point table as Rust source (for regenerating src/crypto/p256_table.rs).
#[doc(hidden)]
pub fn base_table_source() -> Option<alloc::string::String> {
    use core::fmt::Write;
    let table = base_table()?;
    let mut s = alloc::string::String::new();
    s.push_str("//! Odd multiples `1, 3, …, 63` of `2^(32i)·G` (i = 0..8) for P-256, affine, Montgomery form\n");
    s.push_str("//! (R = 2^261), 29-bit limbs. Generated by `crypto::p256::base_table_source`; tests/differential.rs\n");
    s.push_str("//! checks it (`P256_TABLE_UPDATE=1` there rewrites it).\n\n");
    s.push_str("use crate::crypto::p256::{Affine, BASE_K, SPLIT};\n\n");
    s.push_str("#[rustfmt::skip]\npub(crate) static BASE_TABLE: [[Affine; BASE_K]; SPLIT] = [\n");
    for row in &table {
        s.push_str("    [\n");
        for p in row {
            let _ = writeln!(s, "        Affine {{ x: {:?}, y: {:?} }},", p.x, p.y);
        }
        s.push_str("    ],\n");
    }
    s.push_str("];\n");
    Some(s)
}

/// wNAF digits of the `L - 1` low bits given by `bit` (least significant first): odd digits in
/// `(-2^(w-1), 2^(w-1))`, any two nonzero digits at least `w` apart; the extra position takes the
/// final carry. Where a digit is odd, the window of `w` bits (plus the carry) becomes one signed
/// digit `d`, and `window - d` (0 or `2^w`) carries into the position after the window.
fn wnaf<const L: usize>(bit: impl Fn(usize) -> u32, w: usize) -> [i8; L] {
    let mut out = [0i8; L];
    let (mut carry, mut i) = (0u32, 0usize);
    while i < L {
        let b = if i + 1 < L { bit(i) } else { 0 } + carry;
        if b & 1 == 0 {
            carry = b >> 1;
            i += 1;
            continue;
        }
        let mut window = carry;
        for j in 0..w {
            if i + j + 1 < L {
                window += bit(i + j) << j;
            }
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

/// wNAF of a 32-bit chunk (33 positions).
fn wnaf32(chunk: u32, w: usize) -> [i8; 33] {
    wnaf::<33>(|i| (chunk >> (i % 32)) & 1, w)
}

/// wNAF of a whole scalar below 2^256 (257 positions).
fn wnaf256(s: &Limbs, w: usize) -> [i8; 257] {
    let be = to_be(s);
    wnaf::<257>(|i| u32::from(be.get(31 - (i / 8) % 32).copied().unwrap_or(0) >> (i % 8)) & 1, w)
}

/// The eight 32-bit chunks of a scalar, least significant first.
fn chunks(s: &Limbs) -> [u32; SPLIT] {
    let be = to_be(s);
    let mut out = [0u32; SPLIT];
    for (o, c) in out.iter_mut().zip(be.rchunks_exact(4)) {
        *o = u32::from_be_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
            c.get(3).copied().unwrap_or(0),
        ]);
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

/// A key's precomputed points: the odd multiples of the key alone, or of `2^(32i)·Q` for
/// `i = 0..8` (an eighth of the doublings per verification, ~8× the cost to build).
#[derive(Clone, Debug)]
enum KeyTable {
    Single(Box<[Affine; KEY_K]>),
    Split(Box<[[Affine; SPLIT_K]; SPLIT]>),
}

/// A validated P-256 public key with its precomputed table (0.6 KiB, or 9.2 KiB once
/// [`P256Key::precompute`] has run).
#[derive(Clone, Debug)]
pub struct P256Key {
    point: Affine,
    table: KeyTable,
}

impl P256Key {
    /// Validates the affine point (big-endian coordinates): each below p and on the curve
    /// `y^2 = x^3 - 3x + b` (an affine point is never the identity), then builds the small table
    /// (about a tenth of a verification).
    pub fn new(x: &[u8; 32], y: &[u8; 32]) -> Option<P256Key> {
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
        let point = Affine { x, y };
        let [row, ..] = odd_multiples::<KEY_K, 1>(&point)?;
        Some(P256Key { point, table: KeyTable::Single(Box::new(row)) })
    }

    /// Builds the split table (about three verifications' worth of work, once) so that every later
    /// verification with this key costs about half: for keys that verify many signatures (an
    /// issuer's keys, a DPoP client's key held in a cache). Idempotent.
    pub fn precompute(&mut self) {
        if let KeyTable::Single(_) = self.table {
            if let Some(split) = odd_multiples::<SPLIT_K, SPLIT>(&self.point) {
                self.table = KeyTable::Split(Box::new(split));
            }
        }
    }

    /// Whether [`Self::precompute`] has run.
    pub fn is_precomputed(&self) -> bool {
        matches!(self.table, KeyTable::Split(_))
    }

    /// ECDSA verification (SEC 1 4.1.4) of the SHA-256 `digest` with a raw `r || s` signature.
    pub fn verify(&self, digest: &[u8; 32], sig: &[u8; 64]) -> bool {
        let (mut r_be, mut s_be) = ([0u8; 32], [0u8; 32]);
        r_be.copy_from_slice(&sig[..32]);
        s_be.copy_from_slice(&sig[32..]);
        let (r, s) = (from_be(&r_be), from_be(&s_be));
        // r, s in [1, n-1].
        if r == ZERO || s == ZERO || geq(&r, &N.m) || geq(&s, &N.m) {
            return false;
        }
        // e = digest mod n (256-bit hash, n is 256 bits: at most one subtraction).
        let e = from_be(digest);
        let e = if geq(&e, &N.m) { sub(&e, &N.m) } else { e };
        let Some(s_inv) = invert(&s, &N.m) else { return false };
        // With w = s^-1·R: mont(e, w) = e·s^-1, mont(r, w) = r·s^-1 (plain).
        let w = to_mont(&s_inv, &N);
        let (u1, u2) = (mont_mul(&e, &w, &N), mont_mul(&r, &w, &N));
        let base: &[[Affine; BASE_K]; SPLIT] = &crate::crypto::p256_table::BASE_TABLE;
        let mut acc = IDENTITY;
        match &self.table {
            KeyTable::Split(table) => {
                // u·P = Σ u_i·(2^(32i)·P) over the 32-bit chunks u_i: 32 shared doublings.
                let g_digits = chunks(&u1).map(|c| wnaf32(c, BASE_W));
                let q_digits = chunks(&u2).map(|c| wnaf32(c, SPLIT_W));
                for i in (0..33).rev() {
                    acc = acc.double();
                    for (digits, row) in g_digits.iter().zip(base) {
                        acc = add_digit(&acc, row, digits.get(i));
                    }
                    for (digits, row) in q_digits.iter().zip(table.iter()) {
                        acc = add_digit(&acc, row, digits.get(i));
                    }
                }
            }
            KeyTable::Single(row) => {
                let (g_digits, q_digits) = (wnaf256(&u1, BASE_W), wnaf256(&u2, KEY_W));
                let [g_row, ..] = base;
                for i in (0..257).rev() {
                    acc = acc.double();
                    acc = add_digit(&acc, g_row, g_digits.get(i));
                    acc = add_digit(&acc, row, q_digits.get(i));
                }
            }
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

/// `n` chained field multiplications, then (`invert_too`) one inversion mod n, for the
/// benchmarks (bench/ops.rs).
#[doc(hidden)]
pub fn bench_field(n: u32, invert_too: bool) -> u32 {
    let mut x = B_M;
    for _ in 0..n {
        x = fmul(&x, &B_M);
    }
    if invert_too {
        x = invert(&x, &N.m).unwrap_or(x);
    }
    x[0]
}

/// `n` doublings, or `n` mixed additions, or `n` wNAF recodings (`what` 0, 1, 2), for the
/// benchmarks (bench/ops.rs).
#[doc(hidden)]
pub fn bench_point(n: u32, what: u8) -> u32 {
    let g = crate::crypto::p256_table::BASE_TABLE[0][0];
    let mut acc = Jacobian::from_affine(&crate::crypto::p256_table::BASE_TABLE[0][1]);
    let mut out = 0u32;
    for i in 0..n {
        match what {
            0 => acc = acc.double(),
            1 => acc = acc.add_affine(&g, false),
            _ => out = out.wrapping_add(wnaf32(i.wrapping_mul(0x9e37_79b9), BASE_W)[32] as u32),
        }
    }
    acc.x[0] ^ out
}

/// The arithmetic of [`arith`]: each on big-endian numbers, mod p or mod n.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `a·b·R^-1 mod m` (`R = 2^261`) straight from `mont_mul`, for any `a·b < R·m`: the
    /// unreduced inputs the point formulas give it (`3t`, `X + delta`) included.
    MontMul,
    /// `a·b mod m` through Montgomery form and back (`a, b < m`), as the verifier multiplies.
    Mul,
    /// `a + b mod m` (`a, b < m`).
    Add,
    /// `a - b mod m` (`a, b < m`).
    Sub,
    /// `a / 2 mod m` (`a < m`).
    Half,
    /// `a^-1 mod m` (`0 < a < m`; `None` for 0).
    Invert,
    /// `a·R mod m` (`a < 2^261`).
    ToMont,
    /// `a·R^-1 mod m` (`a < 2^261`).
    FromMont,
}

/// One field (`scalar` false: mod p) or scalar (`scalar` true: mod n) operation on `a` and `b`,
/// each the big-endian 32 bytes plus `high·2^256` (`high` below 32, so a value below 2^261: the
/// width of the limbs), returning the result as 32 big-endian bytes (`None` when the result does
/// not fit or [`ArithOp::Invert`] has no inverse). The exposure is for the field-level
/// differential fuzz target (fuzz/fuzz_targets/field_differential.rs), which checks each against
/// a bignum under the operation's precondition; outside it a result means nothing.
#[doc(hidden)]
pub fn arith(op: ArithOp, scalar: bool, a: (&[u8; 32], u32), b: (&[u8; 32], u32)) -> Option<[u8; 32]> {
    let wide = |(be, high): (&[u8; 32], u32)| {
        let mut limbs = from_be(be);
        if let Some(top) = limbs.last_mut() {
            // Limb 8 holds bits 232..261: 2^256 is its bit 24.
            *top |= (high & 0x1f) << 24;
        }
        limbs
    };
    let (a, b) = (wide(a), wide(b));
    let md = if scalar { &N } else { &P };
    let out = match op {
        ArithOp::MontMul => mont_mul(&a, &b, md),
        ArithOp::Mul => from_mont(&mont_mul(&to_mont(&a, md), &to_mont(&b, md), md), md),
        ArithOp::Add => add_mod(&a, &b, &md.m),
        ArithOp::Sub => sub_mod(&a, &b, &md.m),
        ArithOp::Half => {
            let mut x = a;
            half_mod(&mut x, &md.m);
            x
        }
        ArithOp::Invert => invert(&a, &md.m)?,
        ArithOp::ToMont => to_mont(&a, md),
        ArithOp::FromMont => from_mont(&a, md),
    };
    // Above 2^256 the bytes would lose it: say so rather than truncate.
    if out.last().is_some_and(|&top| top >> 24 != 0) {
        return None;
    }
    Some(to_be(&out))
}
