//! AWS IoT SQL's `Decimal`: a decimal floating-point number of at most 34 significant digits.
//!
//! AWS documents Decimal as "a number with 34 digits of precision" (Java's `BigDecimal` under
//! `MathContext.DECIMAL128`), which is why `31 * 1.8 + 32` is `87.8` on AWS and not the
//! `87.80000000000001` that binary doubles give. We model it the same way: an `i128` mantissa
//! (34 digits fit with room to spare) and a power-of-ten exponent, rounded half-even to 34 digits
//! after every operation. `+ - * %` are exact whenever the exact result has at most 34 digits and
//! the operands' exponents are within 38 of each other; outside that (astronomically wide
//! operands), and for the functions AWS itself computes in double (trigonometry, `exp`, `ln`,
//! `power`…), we go through `f64` and take its shortest round-trip decimal form.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Significant digits kept, as AWS's 34-digit Decimal.
const MAX_DIGITS: u32 = 34;

/// Exponents beyond this are refused: such numbers cannot come out as JSON anyway.
const MAX_EXPONENT: i64 = 1000;

/// A decimal number `mantissa × 10^exponent`, always normalized (no trailing zeros in the
/// mantissa, zero is `0 × 10^0`), so derived equality is numeric equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i128,
    exponent: i32,
}

fn pow10(n: u32) -> Option<i128> {
    10_i128.checked_pow(n)
}

/// The number of decimal digits of `m` (1 for zero).
fn digits(m: i128) -> u32 {
    m.unsigned_abs().checked_ilog10().map_or(1, |log| log + 1)
}

/// The powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        exponent: 0,
    };

    /// `mantissa × 10^exponent`, rounded half-even to 34 digits; `None` when the exponent is out
    /// of range.
    pub(crate) fn new(mut mantissa: i128, exponent: i64) -> Option<Decimal> {
        let mut exponent = exponent;
        if mantissa == 0 {
            return Some(Decimal::ZERO);
        }
        let n = digits(mantissa);
        if n > MAX_DIGITS {
            let drop = n - MAX_DIGITS;
            let divisor = pow10(drop)?;
            let quotient = mantissa / divisor;
            let remainder = (mantissa % divisor).abs();
            let half = divisor / 2;
            let round_up = remainder > half || (remainder == half && quotient % 2 != 0);
            mantissa = if round_up {
                quotient + mantissa.signum()
            } else {
                quotient
            };
            exponent = exponent.saturating_add(i64::from(drop));
        }
        // Most mantissas fit in 64 bits, where division is a single instruction.
        if let Ok(mut small) = i64::try_from(mantissa) {
            while small % 10 == 0 {
                small /= 10;
                exponent = exponent.saturating_add(1);
            }
            mantissa = i128::from(small);
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            // Saturating: a literal's exponent may already be at the end of i64's range,
            // which the range check below refuses.
            exponent = exponent.saturating_add(1);
        }
        // Rounding up may have produced 10^34; the loop above has already stripped it back.
        if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
            return None;
        }
        Some(Decimal {
            mantissa,
            exponent: i32::try_from(exponent).ok()?,
        })
    }

    /// The decimal equal to an integer.
    pub fn from_i64(n: i64) -> Decimal {
        Decimal::new(i128::from(n), 0).unwrap_or(Decimal::ZERO)
    }

    /// The shortest decimal that reads back as `f`; `None` for NaN and infinities.
    pub fn from_f64(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        ryu::Buffer::new().format_finite(f).parse().ok()
    }

    /// The nearest double.
    pub fn to_f64(self) -> f64 {
        // Clinger's fast path: a mantissa and a power of ten that are both exact doubles give
        // the correctly rounded result in one multiplication or division.
        let exact_mantissa = self.mantissa.unsigned_abs() <= 1 << 53;
        if let Some(&power) = EXACT_POWERS_OF_TEN.get(self.exponent.unsigned_abs() as usize)
            && exact_mantissa
        {
            let mantissa = self.mantissa as f64;
            return if self.exponent >= 0 {
                mantissa * power
            } else {
                mantissa / power
            };
        }
        format!("{}e{}", self.mantissa, self.exponent)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// The integer value when this decimal is whole and fits in an `i64`.
    pub fn to_i64_exact(self) -> Option<i64> {
        if self.exponent < 0 {
            return None;
        }
        let scale = pow10(u32::try_from(self.exponent).ok()?)?;
        i64::try_from(self.mantissa.checked_mul(scale)?).ok()
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub(crate) fn signum(self) -> i32 {
        self.mantissa.signum() as i32
    }

    pub(crate) fn checked_neg(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            exponent: self.exponent,
        }
    }

    pub(crate) fn abs(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            exponent: self.exponent,
        }
    }

    /// Both mantissas at the smaller exponent, or `None` when that overflows.
    fn aligned(self, other: Decimal) -> Option<(i128, i128, i64)> {
        let (a, b) = (self, other);
        if a.exponent >= b.exponent {
            let shift = u32::try_from(a.exponent - b.exponent).ok()?;
            Some((
                a.mantissa.checked_mul(pow10(shift)?)?,
                b.mantissa,
                i64::from(b.exponent),
            ))
        } else {
            let shift = u32::try_from(b.exponent - a.exponent).ok()?;
            Some((
                a.mantissa,
                b.mantissa.checked_mul(pow10(shift)?)?,
                i64::from(a.exponent),
            ))
        }
    }

    fn via_f64(self, other: Decimal, op: fn(f64, f64) -> f64) -> Option<Decimal> {
        Decimal::from_f64(op(self.to_f64(), other.to_f64()))
    }

    /// The sum; `None` only when the result is out of range.
    pub(crate) fn add(self, other: Decimal) -> Option<Decimal> {
        match self.aligned(other) {
            Some((a, b, e)) => match a.checked_add(b) {
                Some(m) => Decimal::new(m, e),
                None => self.via_f64(other, |x, y| x + y),
            },
            None => self.via_f64(other, |x, y| x + y),
        }
    }

    /// The difference.
    pub(crate) fn sub(self, other: Decimal) -> Option<Decimal> {
        self.add(other.checked_neg())
    }

    /// The product.
    pub(crate) fn mul(self, other: Decimal) -> Option<Decimal> {
        match self.mantissa.checked_mul(other.mantissa) {
            Some(m) => Decimal::new(m, i64::from(self.exponent) + i64::from(other.exponent)),
            None => self.via_f64(other, |x, y| x * y),
        }
    }

    /// The quotient to 34 significant digits; `None` when dividing by zero.
    pub(crate) fn div(self, other: Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let negative = (self.mantissa < 0) != (other.mantissa < 0);
        let a = self.mantissa.abs();
        let b = other.mantissa.abs();
        let mut quotient = a / b;
        let mut remainder = a % b;
        let mut exponent = i64::from(self.exponent) - i64::from(other.exponent);
        // Long division, one digit at a time: the remainder stays below `b` < 10^34, so
        // `remainder * 10` cannot overflow, and we stop one digit past the precision so
        // `new` can round.
        while remainder != 0 && (quotient == 0 || digits(quotient) <= MAX_DIGITS) {
            remainder *= 10;
            quotient = quotient * 10 + remainder / b;
            remainder %= b;
            exponent -= 1;
        }
        Decimal::new(if negative { -quotient } else { quotient }, exponent)
    }

    /// The remainder of truncating division, with the sign of the dividend (Java's `%`).
    pub(crate) fn rem(self, other: Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        match self.aligned(other) {
            Some((a, b, e)) => Decimal::new(a % b, e),
            None => self.via_f64(other, |x, y| x % y),
        }
    }

    /// Rounds to an integer-valued decimal with the given rule.
    pub(crate) fn round_with(self, mode: Rounding) -> Decimal {
        self.round_to_scale(0, mode)
    }

    /// Rounds to `scale` digits after the point.
    pub(crate) fn round_to_scale(self, scale: i64, mode: Rounding) -> Decimal {
        let drop = -scale - i64::from(self.exponent);
        if drop <= 0 {
            return self;
        }
        let Some(divisor) = u32::try_from(drop).ok().and_then(pow10) else {
            // Dropping more than 38 digits: the value is below one unit of the target scale.
            let unit = if self.mantissa > 0 { 1 } else { -1 };
            let away = match mode {
                Rounding::Floor => self.mantissa < 0,
                Rounding::Ceiling => self.mantissa > 0,
                Rounding::Down | Rounding::HalfUp => false,
            };
            return if away {
                Decimal::new(unit, -scale).unwrap_or(Decimal::ZERO)
            } else {
                Decimal::ZERO
            };
        };
        let quotient = self.mantissa / divisor;
        let remainder = self.mantissa % divisor;
        let adjust = match mode {
            Rounding::Down => 0,
            Rounding::Floor => -i128::from(remainder < 0),
            Rounding::Ceiling => i128::from(remainder > 0),
            Rounding::HalfUp => {
                if remainder.abs() * 2 >= divisor {
                    remainder.signum()
                } else {
                    0
                }
            }
        };
        Decimal::new(quotient + adjust, -scale).unwrap_or(Decimal::ZERO)
    }

    /// The mantissa and exponent.
    #[cfg(test)]
    pub(crate) fn parts(self) -> (i128, i32) {
        (self.mantissa, self.exponent)
    }
}

/// How [`Decimal::round_with`] picks between the two neighbouring integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounding {
    /// Toward zero.
    Down,
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceiling,
    /// To the nearest, ties away from zero (AWS's `round` examples).
    HalfUp,
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = self.mantissa.signum().cmp(&other.mantissa.signum());
        if sign != Ordering::Equal || self.mantissa == 0 {
            return sign;
        }
        // Same sign, both non-zero: compare magnitudes by their leading digit's position first.
        let magnitude = |d: &Decimal| i64::from(d.exponent) + i64::from(digits(d.mantissa));
        let by_magnitude = magnitude(self).cmp(&magnitude(other));
        let abs_order = if by_magnitude != Ordering::Equal {
            by_magnitude
        } else {
            // Same leading position, so the shift is below 34 digits and cannot overflow.
            match self.abs().aligned(other.abs()) {
                Some((a, b, _)) => a.cmp(&b),
                None => Ordering::Equal,
            }
        };
        if self.mantissa > 0 {
            abs_order
        } else {
            abs_order.reverse()
        }
    }
}

/// Why a string is not a decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidDecimal;

impl FromStr for Decimal {
    type Err = InvalidDecimal;

    /// Reads `-?digits(.digits)?([eE][+-]?digits)?`; a leading `+` and a bare `.5` are
    /// accepted too, as Java's `BigDecimal` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut mantissa: i128 = 0;
        let mut exponent: i64 = 0;
        let mut seen_digit = false;
        let mut seen_point = false;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    let d = i128::from(c - b'0');
                    match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                        Some(m) if digits(m) <= MAX_DIGITS + 2 => {
                            mantissa = m;
                            if seen_point {
                                exponent -= 1;
                            }
                        }
                        // Beyond the precision: the digit only matters for its place value.
                        _ => {
                            if !seen_point {
                                exponent += 1;
                            }
                        }
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => break,
            }
            i += 1;
        }
        if !seen_digit {
            return Err(InvalidDecimal);
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            let exp_negative = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            let mut e: i64 = 0;
            while let Some(&c) = bytes.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                e = e.saturating_mul(10).saturating_add(i64::from(c - b'0'));
                i += 1;
            }
            if i == start {
                return Err(InvalidDecimal);
            }
            exponent = exponent.saturating_add(if exp_negative { -e } else { e });
        }
        if i != bytes.len() {
            return Err(InvalidDecimal);
        }
        if mantissa == 0 {
            return Ok(Decimal::ZERO);
        }
        Decimal::new(if negative { -mantissa } else { mantissa }, exponent).ok_or(InvalidDecimal)
    }
}

impl fmt::Display for Decimal {
    /// Plain notation (`87.8`, `1000.0`, `0.001`) while the leading digit is within 21 places of
    /// the point, scientific (`1.5E+40`, `2E-30`) beyond. Whole values keep a `.0` so that they
    /// still read as decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.mantissa < 0;
        let digits_str = self.mantissa.unsigned_abs().to_string();
        let n = digits_str.len() as i64;
        let exponent = i64::from(self.exponent);
        let leading = exponent + n - 1;
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        if (-21..21).contains(&leading) {
            if exponent >= 0 {
                out.push_str(&digits_str);
                out.extend(std::iter::repeat_n('0', exponent as usize));
                out.push_str(".0");
            } else if leading >= 0 {
                let split = (leading + 1) as usize;
                out.push_str(digits_str.get(..split).unwrap_or("0"));
                out.push('.');
                out.push_str(digits_str.get(split..).unwrap_or("0"));
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-leading - 1) as usize));
                out.push_str(&digits_str);
            }
        } else {
            out.push_str(digits_str.get(..1).unwrap_or("0"));
            if n > 1 {
                out.push('.');
                out.push_str(digits_str.get(1..).unwrap_or(""));
            }
            out.push('E');
            if leading >= 0 {
                out.push('+');
            }
            out.push_str(&leading.to_string());
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exponent_at_the_end_of_its_range_is_refused_not_overflowed() {
        // Found by the fuzz target: the exponent saturated while parsing, then overflowed
        // while the mantissa's trailing zeros were stripped.
        assert!("6750E223372036854775807".parse::<Decimal>().is_err());
        assert!("1E9223372036854775807".parse::<Decimal>().is_err());
        assert!(
            crate::parse(
                "SELECT 00000006750E22337203685477580700000000 FROM 'a'",
                crate::SqlVersion::V2016_03_23
            )
            .is_err()
        );
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn fahrenheit_conversion_is_exact() {
        let r = d("31").mul(d("1.8")).unwrap().add(d("32")).unwrap();
        assert_eq!(r, d("87.8"));
        assert_eq!(r.to_string(), "87.8");
        assert_eq!(r.to_f64(), 87.8);
    }

    #[test]
    fn numbers_print_plainly_or_scientifically() {
        assert_eq!(d("1000").to_string(), "1000.0");
        assert_eq!(d("0.001").to_string(), "0.001");
        assert_eq!(d("-12.50").to_string(), "-12.5");
        assert_eq!(d("1.5e40").to_string(), "1.5E+40");
        assert_eq!(d("2e-30").to_string(), "2E-30");
        assert_eq!(d("0").to_string(), "0.0");
    }

    #[test]
    fn printing_and_reading_back_gives_the_same_number() {
        for s in ["1.5E+40", "2E-30", "87.8", "-0.0001", "123456789.123456789"] {
            assert_eq!(d(&d(s).to_string()), d(s));
        }
    }

    #[test]
    fn division_keeps_thirty_four_digits() {
        assert_eq!(
            d("1").div(d("3")).unwrap().to_string(),
            "0.3333333333333333333333333333333333"
        );
        assert_eq!(d("2").div(d("3")).unwrap().parts().0 % 10, 7);
        assert_eq!(d("10").div(d("4")).unwrap(), d("2.5"));
        assert_eq!(d("1").div(Decimal::ZERO), None);
    }

    #[test]
    fn remainder_has_the_sign_of_the_dividend() {
        assert_eq!(d("-7.5").rem(d("2")).unwrap(), d("-1.5"));
        assert_eq!(d("7.5").rem(d("-2")).unwrap(), d("1.5"));
    }

    #[test]
    fn comparison_is_numeric() {
        assert!(d("1.10") == d("1.1"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("1e40") > d("999999"));
        assert!(d("0.001") > d("-1e40"));
    }

    #[test]
    fn rounding_modes_follow_their_names() {
        assert_eq!(d("2.5").round_with(Rounding::HalfUp), d("3"));
        assert_eq!(d("-2.5").round_with(Rounding::HalfUp), d("-3"));
        assert_eq!(d("-2.5").round_with(Rounding::Floor), d("-3"));
        assert_eq!(d("-2.5").round_with(Rounding::Ceiling), d("-2"));
        assert_eq!(d("-2.5").round_with(Rounding::Down), d("-2"));
        assert_eq!(d("2.888").round_to_scale(2, Rounding::Down), d("2.88"));
        assert_eq!(d("1e-50").round_with(Rounding::Ceiling), d("1"));
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for s in ["", "-", "1e", "1.2.3", "abc", "1e+", "0x10"] {
            assert!(s.parse::<Decimal>().is_err(), "{s}");
        }
    }

    #[test]
    fn overflowing_mantissas_fall_back_to_double() {
        let big = d("9999999999999999999999999999999999");
        assert!(big.mul(big).is_some());
        assert!(d("1e40").add(d("1")).is_some());
    }

    proptest::proptest! {
        /// The fast conversion to double agrees with reading the decimal's own text.
        #[test]
        fn to_f64_is_the_nearest_double(mantissa in -(1_i128 << 60)..(1_i128 << 60), exponent in -30_i64..30) {
            let Some(decimal) = Decimal::new(mantissa, exponent) else { return Ok(()) };
            let text = format!("{}e{}", decimal.mantissa, decimal.exponent);
            proptest::prop_assert_eq!(decimal.to_f64(), text.parse::<f64>().expect("a number"));
        }

        /// A finite double survives the trip through its shortest decimal.
        #[test]
        fn from_f64_round_trips(f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            if let Some(decimal) = Decimal::from_f64(f) {
                proptest::prop_assert_eq!(decimal.to_f64(), f + 0.0);
            }
        }
    }

    #[test]
    fn digits_counts_decimal_digits() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(-10), 2);
        assert_eq!(digits(i128::MIN), 39);
        assert_eq!(digits(10_i128.pow(34) - 1), 34);
    }
}
