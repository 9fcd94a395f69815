//! Kubernetes quantities (`10Gi`, `1.5G`, `1e9`, `500M`) compared by value.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Nanounits in one unit: values are kept exactly as integers of 10⁻⁹.
const NANO: i128 = 1_000_000_000;

/// The value of `q` in nanounits (`1Ki` = 1024·10⁹), or `None` when it is not a
/// quantity or too large to hold (beyond about 10²⁹ units).
pub fn nanounits(q: &Quantity) -> Option<i128> {
    let s = q.0.trim();
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_end = s
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    let digits = format!("{whole}{fraction}{}", "0".repeat(9 - fraction.len()));
    let mantissa: i128 = digits.parse().ok()?;
    let scaled = match suffix {
        "" => Some(mantissa),
        "n" => Some(mantissa / NANO),
        "u" => Some(mantissa / 1_000_000),
        "m" => Some(mantissa / 1_000),
        "k" => mantissa.checked_mul(1_000),
        "M" => mantissa.checked_mul(1_000_000),
        "G" => mantissa.checked_mul(NANO),
        "T" => mantissa.checked_mul(10i128.pow(12)),
        "P" => mantissa.checked_mul(10i128.pow(15)),
        "E" => mantissa.checked_mul(10i128.pow(18)),
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = "KMGTPE".find(&suffix[..1])? as u32 + 1;
            mantissa.checked_mul(1i128 << (10 * power))
        }
        exponent => {
            let e: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            if e >= 0 {
                mantissa.checked_mul(10i128.checked_pow(u32::try_from(e).ok()?)?)
            } else {
                Some(mantissa / 10i128.checked_pow(e.unsigned_abs())?)
            }
        }
    }?;
    Some(sign * scaled)
}

/// Whether `a` is smaller than `b`; `None` when either is not a quantity.
pub fn less_than(a: &Quantity, b: &Quantity) -> Option<bool> {
    Some(nanounits(a)? < nanounits(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<i128> {
        nanounits(&Quantity(s.into()))
    }

    #[test]
    fn suffixes_and_forms_have_their_values() {
        assert_eq!(n("1Gi"), Some((1 << 30) * NANO));
        assert_eq!(n("1073741824"), n("1Gi"));
        assert_eq!(n("1.5Gi"), Some(3 * (1 << 29) * NANO));
        assert_eq!(n("1G"), Some(NANO * NANO));
        assert_eq!(n("1e9"), n("1G"));
        assert_eq!(n("1E3"), n("1k"));
        assert_eq!(n("500m"), Some(NANO / 2));
        assert_eq!(n("1024Mi"), n("1Gi"));
        assert_eq!(n("2Ti"), Some((2i128 << 40) * NANO));
        assert_eq!(n("-1k"), Some(-1000 * NANO));
        assert_eq!(n(".5"), Some(NANO / 2));
    }

    #[test]
    fn garbage_is_no_quantity() {
        for bad in ["", "ten gigs", "1Gb", "1.2.3", "Gi", "1e", "1.0000000001"] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn comparison_is_by_value() {
        let q = |s: &str| Quantity(s.into());
        assert_eq!(less_than(&q("1Gi"), &q("2Gi")), Some(true));
        assert_eq!(less_than(&q("1Gi"), &q("1024Mi")), Some(false));
        assert_eq!(less_than(&q("1G"), &q("1Gi")), Some(true));
        assert_eq!(less_than(&q("2Gi"), &q("1Gi")), Some(false));
        assert_eq!(less_than(&q("x"), &q("1Gi")), None);
    }
}
