//! The syntax of field values: digits, dates, rupiah, akun lines, and the Luhn screen
//! for payment-card numbers.

use super::MAX_AKUN_LINES;

pub(super) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<i16>(),
        s[5..7].parse::<i8>(),
        s[8..10].parse::<i8>(),
    ) else {
        return false;
    };
    all_digits(&s[0..4])
        && all_digits(&s[5..7])
        && all_digits(&s[8..10])
        && jiff::civil::Date::new(y, m, d).is_ok()
}

/// Whole rupiah greater than zero, without a leading zero; `None` otherwise.
pub(super) fn rupiah(s: &str) -> Option<u64> {
    if !all_digits(s) || s.starts_with('0') {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n > 0)
}

/// The lines of an `akun` value; `None` unless every line is `AKUN:RUPIAH` with a
/// six-digit akun named once.
pub(super) fn akun_lines(s: &str) -> Option<Vec<(&str, u64)>> {
    let mut lines: Vec<(&str, u64)> = Vec::new();
    for line in s.split(',') {
        let (akun, amount) = line.trim().split_once(':')?;
        if akun.len() != 6 || !all_digits(akun) || lines.iter().any(|(a, _)| *a == akun) {
            return None;
        }
        lines.push((akun, rupiah(amount)?));
        if lines.len() > MAX_AKUN_LINES {
            return None;
        }
    }
    Some(lines)
}

/// Whether `value` holds a run of 13 to 19 digits, written together or in groups split
/// by single spaces or dashes as cards are printed, that passes the Luhn check.
pub fn holds_card_number(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // The longest run of digit groups from here.
        let mut digits = Vec::new();
        let mut j = i;
        while j < b.len() {
            if b[j].is_ascii_digit() {
                digits.push(b[j] - b'0');
                j += 1;
            } else if (b[j] == b' ' || b[j] == b'-')
                && j + 1 < b.len()
                && b[j + 1].is_ascii_digit()
                && j > i
            {
                j += 1;
            } else {
                break;
            }
        }
        // The whole run only: any long number has some 13-digit stretch passing Luhn.
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            return true;
        }
        i = j.max(i + 1);
    }
    false
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
