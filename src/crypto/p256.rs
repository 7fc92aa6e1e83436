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
//!   recoded whole and their digit positions cut in sixteen chunks of 16,
//!   `u·P = Σ u_i·(2^(16i)·P)`, so 17 doublings serve 32 rows;
//! - `s^-1 mod n` by safegcd (Bernstein-Yang divsteps, variable time), and no final inversion: `x(R) ≡ r`
//!   is checked as `X == r·Z^2` (and `(r + n)·Z^2` when `r + n < p`);
//! - the point formulas' field product in two forms, inlined (V8's faster) or called (Wasmtime's),
//!   chosen once per module by timing both where it runs ([`calibrate`], [`ProductForm`]).
//!
//! The `p256` crate stays the reference in tests (tests/differential.rs).
//!
//! The field and point arithmetic shared by both curves is written once, in
//! src/crypto/weierstrass.rs, and expanded here by `weierstrass_arithmetic!`.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use core::sync::atomic::{AtomicU8, Ordering};

use super::weierstrass::wnaf;

/// Limbs per element, bits per limb.
const LIMBS: usize = 9;
const BITS: u32 = 29;
const MASK: u32 = (1 << BITS) - 1;

/// A number below 2^261 as 29-bit limbs, least significant first; every limb below 2^29.
type Limbs = [u32; LIMBS];

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
crate::crypto::weierstrass::weierstrass_arithmetic!(32, both);

/// Odd multiples `1·P, 3·P, …, (2K-1)·P` of `2^(32i)·P` for `i = 0..ROWS`, affine.
fn odd_multiples<F: FieldProduct, const K: usize, const ROWS: usize>(p: &Affine) -> Option<[[Affine; K]; ROWS]> {
    let mut jac = Vec::with_capacity(ROWS * K);
    let mut base = Jacobian::from_affine(p);
    for row in 0..ROWS {
        let mut twice = base;
        twice.double_in_place::<F>();
        let mut cur = base;
        jac.push(cur);
        for _ in 1..K {
            cur.add_in_place::<F>(&twice.x, &twice.y, Some(&twice.z));
            jac.push(cur);
        }
        if row + 1 < ROWS {
            for _ in 0..CHUNK_BITS {
                base.double_in_place::<F>();
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
pub(crate) const SPLIT: usize = 16;
const CHUNK_BITS: usize = 256 / SPLIT;

/// wNAF widths: a parsed key's small table (8 odd multiples: cheap to build for a key used once),
/// a precomputed key's rows (16 odd multiples each, 18 KiB in all), the base point's rows (32 each,
/// 36 KiB of constants). Wider windows mean fewer additions per verification; more rows, fewer
/// doublings (sixteen rows: 17 doublings, against 33 with eight rows; each row doubles the tables).
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
    odd_multiples::<Called, BASE_K, SPLIT>(&g)
}

/// The base point table as Rust source (for regenerating src/crypto/p256_table.rs).
#[doc(hidden)]
pub fn base_table_source() -> Option<alloc::string::String> {
    use core::fmt::Write;
    let table = base_table()?;
    let mut s = alloc::string::String::new();
    let _ = writeln!(
        s,
        "//! Odd multiples `1, 3, …, {}` of `2^({CHUNK_BITS}i)·G` (i = 0..{SPLIT}) for P-256, affine, Montgomery form",
        2 * BASE_K - 1
    );
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

/// wNAF of a whole scalar below 2^256 (257 positions).
fn wnaf256(s: &Limbs, w: usize) -> [i8; 257] {
    let be = to_be(s);
    wnaf::<257>(|i| u32::from(be.get(31 - (i / 8) % 32).copied().unwrap_or(0) >> (i % 8)) & 1, w)
}

/// A key's precomputed points: the odd multiples of the key alone, or of `2^(16i)·Q` for
/// `i = 0..16` (17 doublings per verification instead of 256, ~16× the cost to build).
#[derive(Clone, Debug)]
enum KeyTable {
    Single(Box<[Affine; KEY_K]>),
    Split(Box<[[Affine; SPLIT_K]; SPLIT]>),
}

/// A validated P-256 public key with its precomputed table (0.6 KiB, or 18 KiB once
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
        let point = curve_point(x, y)?;
        let [row, ..] = match product_form() {
            ProductForm::Inline => odd_multiples::<Inlined, KEY_K, 1>(&point)?,
            ProductForm::Call => odd_multiples::<Called, KEY_K, 1>(&point)?,
        };
        Some(P256Key { point, table: KeyTable::Single(Box::new(row)) })
    }

    /// Builds the split table (about three verifications' worth of work with the small table, once)
    /// so that every later verification with this key costs about a third: for keys that verify
    /// many signatures (an issuer's keys, a DPoP client's key held in a cache). Idempotent.
    pub fn precompute(&mut self) {
        if let KeyTable::Single(_) = self.table {
            let split = match product_form() {
                ProductForm::Inline => odd_multiples::<Inlined, SPLIT_K, SPLIT>(&self.point),
                ProductForm::Call => odd_multiples::<Called, SPLIT_K, SPLIT>(&self.point),
            };
            if let Some(split) = split {
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
        match product_form() {
            ProductForm::Inline => self.verify_with::<Inlined>(digest, sig),
            ProductForm::Call => self.verify_with::<Called>(digest, sig),
        }
    }

    fn verify_with<F: FieldProduct>(&self, digest: &[u8; 32], sig: &[u8; 64]) -> bool {
        let Some((r, u1, u2)) = ecdsa_scalars(digest, sig) else { return false };
        let base: &[[Affine; BASE_K]; SPLIT] = &crate::crypto::p256_table::BASE_TABLE;
        let mut acc = IDENTITY;
        match &self.table {
            KeyTable::Split(table) => {
                // u = Σ d_i·2^i over the whole scalar's wNAF digits, and position i = CHUNK_BITS·c + j
                // is j doublings of row c's point 2^(CHUNK_BITS·c)·P: CHUNK_BITS + 1 shared doublings
                // for all 2·SPLIT rows. The top position (256) is the last row's j = CHUNK_BITS.
                // One wNAF of the whole scalar, not one per chunk: no chunk starts a window afresh,
                // so fewer digits are nonzero (w = 7: 32.5 against 35.8 for eight chunks).
                let (g_digits, q_digits) = (wnaf256(&u1, BASE_W), wnaf256(&u2, SPLIT_W));
                for j in (0..=CHUNK_BITS).rev() {
                    acc.double_in_place::<F>();
                    let rows = if j == CHUNK_BITS { SPLIT - 1 } else { 0 };
                    for (c, (g_row, q_row)) in base.iter().zip(table.iter()).enumerate().skip(rows) {
                        let i = CHUNK_BITS * c + j;
                        add_digit::<F, _>(&mut acc, g_row, g_digits.get(i));
                        add_digit::<F, _>(&mut acc, q_row, q_digits.get(i));
                    }
                }
            }
            KeyTable::Single(row) => {
                let (g_digits, q_digits) = (wnaf256(&u1, BASE_W), wnaf256(&u2, KEY_W));
                let [g_row, ..] = base;
                for i in (0..257).rev() {
                    acc.double_in_place::<F>();
                    add_digit::<F, _>(&mut acc, g_row, g_digits.get(i));
                    add_digit::<F, _>(&mut acc, row, q_digits.get(i));
                }
            }
        }
        x_is_r(&acc, &r)
    }
}

/// The form of the field product in P-256's point formulas (src/crypto/weierstrass.rs). Both
/// compute the same values; which is faster depends on the engine that compiled the module
/// (bench/NOTES.md, "P-256: which product form"), so it is measured where the filter runs
/// ([`calibrate`]) and set for the whole module ([`set_product_form`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductForm {
    /// Every product inlined into each formula: V8's faster form, and the default.
    Inline,
    /// Every product a call: Wasmtime's (Cranelift's) faster form.
    Call,
}

/// The module's form: 0 not chosen yet (so [`ProductForm::Inline`]), 1 chosen `Inline`, 2 `Call`.
/// A wasm module runs on one thread; atomics only make the static safe to share natively.
static FORM: AtomicU8 = AtomicU8::new(0);

/// Sets the form every later P-256 operation uses.
pub fn set_product_form(form: ProductForm) {
    FORM.store(if form == ProductForm::Call { 2 } else { 1 }, Ordering::Relaxed);
}

/// The form in use: [`ProductForm::Inline`] until one is set.
pub fn product_form() -> ProductForm {
    if FORM.load(Ordering::Relaxed) == 2 {
        ProductForm::Call
    } else {
        ProductForm::Inline
    }
}

/// Whether a form has been set ([`set_product_form`]): the host calibrates once per module.
pub fn product_form_set() -> bool {
    FORM.load(Ordering::Relaxed) != 0
}

/// Units of work ([`calibration_unit`]) of one form counted over a window of the host's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throughput {
    /// Units completed in the window.
    pub units: u32,
    /// The window, by the host's clock.
    pub nanos: u64,
}

impl Throughput {
    /// Whether `self` did more units per nanosecond than `other` by at least `percent` % (never
    /// for an empty measurement: a clock that did not move).
    fn beats(self, other: Throughput, percent: u128) -> bool {
        if self.nanos == 0 || self.units == 0 {
            return false;
        }
        if other.nanos == 0 || other.units == 0 {
            return true;
        }
        // self.v / self.ns >= (1 + percent/100) · other.v / other.ns, in integers.
        u128::from(self.units) * u128::from(other.nanos) * 100
            >= u128::from(other.units) * u128::from(self.nanos) * (100 + percent)
    }
}

/// What [`calibrate`] measured and chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// The form chosen and set.
    pub form: ProductForm,
    /// [`ProductForm::Inline`]'s best round.
    pub inline: Throughput,
    /// [`ProductForm::Call`]'s.
    pub call: Throughput,
}

impl core::fmt::Display for Calibration {
    /// The line the filter logs when it starts: the choice and the measurements behind it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let form = match self.form {
            ProductForm::Inline => "inline",
            ProductForm::Call => "call",
        };
        let ms = |t: &Throughput| t.nanos as f64 / 1e6;
        write!(
            f,
            "P-256 product form: {form} (units of 48 doublings + 16 additions: inline {} in {:.1} ms, call {} in {:.1} ms)",
            self.inline.units,
            ms(&self.inline),
            self.call.units,
            ms(&self.call)
        )
    }
}

impl ProductForm {
    /// The faster form by throughput: [`ProductForm::Call`] only if it did at least 15 % more units
    /// per nanosecond (Wasmtime's margin was 21-43 % in calibrations on a busy machine, even with
    /// bench/wasm_run.py's slow clock; V8's goes the other way, but a busy moment showed call up to
    /// 14 % ahead there), so that noise between close forms keeps the default; [`ProductForm::Inline`] when either measurement is
    /// empty (a clock that did not move).
    pub fn faster(inline: Throughput, call: Throughput) -> ProductForm {
        if inline.nanos != 0 && inline.units != 0 && call.beats(inline, 15) {
            ProductForm::Call
        } else {
            ProductForm::Inline
        }
    }
}

/// Calibration rounds (each form measured once per round, alternating, and its best round kept:
/// the one the machine's other work slowed least), the window per measurement, and the bounds
/// that end a measurement whose clock does not move: at most (64 + 256)·10 units in all.
const ROUNDS: usize = 5;
const WINDOW_NANOS: u64 = 3_000_000;
const EDGE_BOUND: u32 = 64;
const COUNT_BOUND: u32 = 256;

/// One unit of calibration work: 48 point doublings and 16 mixed additions with form `F`, the mix
/// of a verification with a key seen for the first time (256 and 75), about a sixth of one: small
/// units so that a 3 ms window counts dozens and rounds to a few per cent.
fn calibration_unit<F: FieldProduct>(g: &Affine, p: &Affine) -> u32 {
    let mut acc = Jacobian::from_affine(p);
    for _ in 0..16 {
        acc.double_in_place::<F>();
        acc.double_in_place::<F>();
        acc.double_in_place::<F>();
        acc.add_affine_in_place::<F>(g, false);
    }
    acc.x[0]
}

/// Times [`calibration_unit`]s with each form, sets the faster ([`ProductForm::faster`], on each
/// form's best round) and returns what it measured. `clock` reads the host's time in
/// nanoseconds; it may be coarse (Kong's engine reads nginx's millisecond clock): each
/// measurement starts on a tick of it, so whole ticks are counted. About 30 ms.
pub fn calibrate(clock: &mut dyn FnMut() -> u64) -> Option<Calibration> {
    let [g, p, ..] = crate::crypto::p256_table::BASE_TABLE[0];
    let work = |form: ProductForm| match form {
        ProductForm::Inline => calibration_unit::<Inlined>(&g, &p),
        ProductForm::Call => calibration_unit::<Called>(&g, &p),
    };
    let mut measure = |form: ProductForm| {
        let first = clock();
        let mut start = first;
        for _ in 0..EDGE_BOUND {
            core::hint::black_box(work(form));
            start = clock();
            if start != first {
                break;
            }
        }
        let mut units = 0;
        loop {
            core::hint::black_box(work(form));
            units += 1;
            let nanos = clock().saturating_sub(start);
            if nanos >= WINDOW_NANOS || units >= COUNT_BOUND {
                return Throughput { units, nanos };
            }
        }
    };
    let (mut inline, mut call) = (Throughput::default(), Throughput::default());
    for _ in 0..ROUNDS {
        for (best, form) in [(&mut inline, ProductForm::Inline), (&mut call, ProductForm::Call)] {
            let round = measure(form);
            if round.beats(*best, 0) {
                *best = round;
            }
        }
    }
    let form = ProductForm::faster(inline, call);
    set_product_form(form);
    Some(Calibration { form, inline, call })
}

/// `n` chained field multiplications, then (`invert_too`) one inversion mod n, for the
/// benchmarks (bench/ops.rs).
#[doc(hidden)]
pub fn bench_field(n: u32, invert_too: bool) -> u32 {
    let mut x = B_M;
    for _ in 0..n {
        x = match product_form() {
            ProductForm::Inline => Inlined::mul(&x, &B_M),
            ProductForm::Call => Called::mul(&x, &B_M),
        };
    }
    if invert_too {
        x = invert(&x, &N).unwrap_or(x);
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
    let form = product_form();
    for i in 0..n {
        match (what, form) {
            (0, ProductForm::Inline) => acc.double_in_place::<Inlined>(),
            (0, ProductForm::Call) => acc.double_in_place::<Called>(),
            (1, ProductForm::Inline) => acc.add_affine_in_place::<Inlined>(&g, false),
            (1, ProductForm::Call) => acc.add_affine_in_place::<Called>(&g, false),
            _ => {
                let s: Limbs = core::array::from_fn(|k| i.wrapping_mul(0x9e37_79b9).rotate_left(k as u32 * 7) & MASK);
                out = out.wrapping_add(wnaf256(&s, BASE_W)[256] as u32);
            }
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
        ArithOp::Invert => invert(&a, md)?,
        ArithOp::ToMont => to_mont(&a, md),
        ArithOp::FromMont => from_mont(&a, md),
    };
    // Above 2^256 the bytes would lose it: say so rather than truncate.
    if out.last().is_some_and(|&top| top >> 24 != 0) {
        return None;
    }
    Some(to_be(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn t(units: u32, nanos: u64) -> Throughput {
        Throughput { units, nanos }
    }

    #[test]
    fn the_call_form_wins_only_by_fifteen_percent() {
        let inline = t(100, 10_000_000);
        assert_eq!(ProductForm::faster(inline, t(100, 10_000_000)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(inline, t(114, 10_000_000)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(inline, t(115, 10_000_000)), ProductForm::Call);
        assert_eq!(ProductForm::faster(inline, t(100, 8_695_000)), ProductForm::Call);
        assert_eq!(ProductForm::faster(inline, t(100, 8_700_000)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(t(130, 10_000_000), t(100, 8_000_000)), ProductForm::Inline);
    }

    #[test]
    fn an_empty_measurement_keeps_the_inline_form() {
        assert_eq!(ProductForm::faster(t(64, 0), t(64, 1)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(t(64, 1), t(64, 0)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(t(0, 5), t(64, 5)), ProductForm::Inline);
        assert_eq!(ProductForm::faster(t(64, 5), t(0, 5)), ProductForm::Inline);
    }

    /// A clock that never moves ends each measurement at its bounds, measures nothing and keeps
    /// the default.
    #[test]
    fn a_still_clock_is_bounded_and_keeps_the_default() {
        let mut calls = 0u32;
        let c = calibrate(&mut || {
            calls += 1;
            42
        })
        .expect("calibration"); // ok: a unit test; the expectation is its assertion
        assert_eq!(c.form, ProductForm::Inline);
        assert_eq!((c.inline, c.call), (Throughput::default(), Throughput::default()));
        assert!(calls <= (1 + EDGE_BOUND + COUNT_BOUND) * 2 * ROUNDS as u32, "{calls}");
        assert!(product_form_set());
    }

    /// A millisecond clock (Kong's engine): each measurement starts on a tick and counts whole
    /// ticks, at least the window; the best round is kept.
    #[test]
    fn a_coarse_clock_is_read_on_its_ticks() {
        let mut calls = 0u64;
        let c = calibrate(&mut || {
            calls += 1;
            // One tick per five readings, offset so that the first reading is inside a tick.
            (calls + 2) / 5 * 1_000_000
        })
        .expect("calibration"); // ok: a unit test; the expectation is its assertion
        for m in [c.inline, c.call] {
            assert_eq!(m.nanos % 1_000_000, 0, "{m:?}");
            assert!(m.nanos >= WINDOW_NANOS, "{m:?}");
            assert!(m.units >= 14, "{m:?}");
        }
        // Same clock, same counts: no reason to leave the default.
        assert_eq!(c.form, ProductForm::Inline);
        let line = Calibration { form: ProductForm::Call, inline: t(30, 6_000_000), call: t(41, 6_012_000) }.to_string();
        assert_eq!(line, "P-256 product form: call (units of 48 doublings + 16 additions: inline 30 in 6.0 ms, call 41 in 6.0 ms)");
    }
}
