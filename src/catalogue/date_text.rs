//! Instants written as text the way the catalogue and its views write them: the
//! plain `YYYY-MM-DD HH:MM:SS` of exports that give no zone, and RFC 3339 (`…T…Z`).
//!
//! Written digit by digit into a buffer on the stack: `format!` and chrono's
//! formatting showed in the profiles of ingest and `show` (a call or two per row, on
//! millions of rows). Years 0..=9999 take the civil-from-days arithmetic below;
//! any other instant goes through chrono as before (its range, `None` outside it,
//! and how it writes a year of another width).

use std::fmt::Write as _;

use chrono::{Datelike, Timelike};

/// An instant as text, on the stack (the longest, a six-digit year with its sign,
/// takes 24 bytes).
pub(crate) struct DateText {
    buf: [u8; 32],
    len: usize,
}

impl DateText {
    /// `YYYY-MM-DD HH:MM:SS` (UTC), as `format!("{:04}-{:02}-…")` writes it: a year
    /// outside 0..=9999 as `-001` or `10000`. None outside chrono's range.
    pub(crate) fn plain(utc: i64) -> Option<DateText> {
        let mut t = DateText::new();
        if t.digits(utc, b' ') {
            return Some(t);
        }
        let d = chrono::DateTime::from_timestamp(utc, 0)?;
        let _ = write!(
            t,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        );
        Some(t)
    }

    /// RFC 3339 in seconds with `Z`, as chrono's `to_rfc3339_opts(Secs, true)`
    /// writes it (a year outside 0..=9999 as `-0001` or `+10000`). None outside
    /// chrono's range.
    pub(crate) fn rfc3339(utc: i64) -> Option<DateText> {
        let mut t = DateText::new();
        if t.digits(utc, b'T') {
            t.push(b'Z');
            return Some(t);
        }
        let d = chrono::DateTime::from_timestamp(utc, 0)?;
        let _ = t.write_str(&d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        Some(t)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators, or what `fmt` wrote, are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).expect("date text is ASCII")
    }

    fn new() -> DateText {
        DateText {
            buf: [0; 32],
            len: 0,
        }
    }

    /// Writes the date and time of an instant of years 0..=9999, `sep` between
    /// them; false (and nothing written) for any other instant.
    fn digits(&mut self, utc: i64, sep: u8) -> bool {
        // Seconds from 0000-01-01T00:00:00Z, up to 9999-12-31T23:59:59Z.
        let Some(from_0000) = utc
            .checked_add(62_167_219_200)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s <= 315_569_519_999)
        else {
            return false;
        };
        let (days, secs) = (from_0000 / 86_400, (from_0000 % 86_400) as u32);
        // Howard Hinnant's civil_from_days: years that begin on 1 March, in eras
        // of 400 years, counted here from 1 March of year -400 (year 0 is leap: its
        // 1 March is day 60) so that nothing is negative.
        let z = days + 146_097 - 60;
        let (era, doe) = (z / 146_097, (z % 146_097) as u32);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = (u64::from(yoe) + era * 400 + u64::from(month <= 2) - 400) as u32;
        let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
        let d = |n: u32| b'0' + (n % 10) as u8;
        let text = [
            d(year / 1000),
            d(year / 100),
            d(year / 10),
            d(year),
            b'-',
            d(month / 10),
            d(month),
            b'-',
            d(day / 10),
            d(day),
            sep,
            d(hour / 10),
            d(hour),
            b':',
            d(minute / 10),
            d(minute),
            b':',
            d(second / 10),
            d(second),
        ];
        self.buf[..text.len()].copy_from_slice(&text);
        self.len = text.len();
        true
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }
}

impl std::fmt::Write for DateText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the catalogue wrote before: the reference both formats must match.
    fn plain_reference(utc: i64) -> Option<String> {
        chrono::DateTime::from_timestamp(utc, 0).map(|d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        })
    }

    fn rfc_reference(utc: i64) -> Option<String> {
        chrono::DateTime::from_timestamp(utc, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    fn check(utc: i64) {
        let plain = DateText::plain(utc).map(|t| t.as_str().to_string());
        assert_eq!(plain, plain_reference(utc), "plain date of {utc}");
        let rfc = DateText::rfc3339(utc).map(|t| t.as_str().to_string());
        assert_eq!(rfc, rfc_reference(utc), "RFC 3339 of {utc}");
        // Within four-digit years the plain date is also strftime's.
        if let (Some(p), Some(d)) = (&plain, chrono::DateTime::from_timestamp(utc, 0)) {
            if (0..=9999).contains(&d.year()) {
                assert_eq!(p, &d.format("%Y-%m-%d %H:%M:%S").to_string(), "{utc}");
            }
        }
    }

    #[test]
    fn written_as_chrono_writes_them_over_the_whole_range() {
        const DAY: i64 = 86_400;
        let edges = [
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            951_782_400,     // 2000-02-29, a leap day of a century leap year
            951_868_799,     // its last second
            -2_203_891_200,  // 1900-03-01 (1900 is not a leap year)
            1_709_164_800,   // 2024-02-29
            -62_167_219_200, // 0000-01-01
            -62_167_219_201, // -0001-12-31 23:59:59
            253_402_300_799, // 9999-12-31 23:59:59
            253_402_300_800, // 10000-01-01
            chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp(), // and past it: None
            chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp(), // and before it: None
            100_000_000_000_000,
            -100_000_000_000_000,
        ];
        for utc in edges {
            for d in -2..=2 {
                check(utc.saturating_add(d));
            }
        }
        // Every day's first and last second from 1890 to 2110, and around every
        // year's end from -300 to 10300.
        let mut t = -2_524_521_600; // 1890-01-01
        while t < 4_417_977_600 {
            check(t);
            check(t + DAY - 1);
            t += DAY;
        }
        for year in -300i32..=10_300 {
            let first = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp();
            for d in [-1, 0, 59 * DAY, 60 * DAY - 1, 60 * DAY] {
                check(first + d);
            }
        }
        // And spread over the whole of chrono's range and past it.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check((x as i64) % 9_000_000_000_000);
            check((x as i64) % 400_000_000_000);
        }
    }
}
