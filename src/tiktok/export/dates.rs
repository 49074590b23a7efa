//! Export dates.
//!
//! Every layout writes `YYYY-MM-DD HH:MM:SS`. Most carry no zone (TikTok documents none;
//! comparing with app times suggests UTC), newer TXT exports and some JSON values append
//! ` UTC`. Both become a UTC instant; the zone-less ones are flagged as assumed.

use chrono::{NaiveDate, NaiveDateTime};

/// A date as the export wrote it, and the instant it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The text exactly as found.
    pub raw: String,
    /// Unix seconds, UTC.
    pub utc: i64,
    /// True when the export gave no zone and UTC was assumed.
    pub assumed_utc: bool,
}

/// Parses an export date; `None` for anything that is not one (including the
/// "N/A"-style placeholders, which callers filter out first anyway).
pub fn parse(raw: &str) -> Option<Timestamp> {
    parse_owned(raw.to_string())
}

/// [`parse`], keeping `raw` as the timestamp's text (every row has a date: one copy
/// fewer).
pub fn parse_owned(raw: String) -> Option<Timestamp> {
    let text = raw.trim();
    let (body, assumed_utc) = match text.strip_suffix("UTC").or_else(|| text.strip_suffix('Z')) {
        Some(rest) => (rest.trim_end(), false),
        None => (text, true),
    };
    let naive = canonical(body).or_else(|| {
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(body, fmt).ok())
    })?;
    Some(Timestamp {
        utc: naive.and_utc().timestamp(),
        raw,
        assumed_utc,
    })
}

/// The form every export row carries (`2024-03-01 10:00:00`, `2024-03-01T10:00:00`,
/// `2024-03-01 10:00`), read without chrono's format interpreter, which costs more
/// than the rest of a row; anything else is left to it.
fn canonical(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let seconds = match (b.len(), b.get(10)) {
        (19, Some(b' ' | b'T')) if b[16] == b':' => digits(17, 19)?,
        (16, Some(b' ')) => 0,
        _ => return None,
    };
    if (b[4], b[7], b[13]) != (b'-', b'-', b':') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 7)?, digits(8, 10)?)?;
    date.and_hms_opt(digits(11, 13)?, digits(14, 16)?, seconds)
}

/// Splits a leading date off a line such as a TXT direct message
/// (`2024-03-01 10:00:00 UTC alice: hi`), returning the date and the rest.
pub fn split_leading(line: &str) -> Option<(Timestamp, &str)> {
    let head = line.get(..19)?;
    let mut ts = parse(head)?;
    let mut rest = &line[19..];
    if let Some(after) = rest.strip_prefix(" UTC") {
        ts = Timestamp {
            raw: line[..23].to_string(),
            assumed_utc: false,
            ..ts
        };
        rest = after;
    }
    Some((ts, rest.strip_prefix(' ').unwrap_or(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoneless_dates_are_assumed_utc() {
        let ts = parse("2024-03-01 10:00:00").unwrap();
        assert_eq!(ts.utc, 1_709_287_200);
        assert!(ts.assumed_utc);
        assert_eq!(ts.raw, "2024-03-01 10:00:00");
    }

    #[test]
    fn utc_suffix_is_explicit() {
        let ts = parse("2024-03-01 10:00:00 UTC").unwrap();
        assert_eq!(ts.utc, 1_709_287_200);
        assert!(!ts.assumed_utc);
    }

    #[test]
    fn the_fast_path_reads_as_chrono_does() {
        let texts = [
            "2024-03-01 10:00:00",
            "2024-03-01T10:00:00",
            "2024-03-01 10:00",
            "2024-03-01T10:00",
            "2024-02-29 23:59:59",
            "2023-02-29 10:00:00",
            "2024-03-01 24:00:00",
            "2024-03-01 10:00:60",
            "2024-3-01 10:00:00",
            "2024-03-01  10:00:0",
            "2024-03-01 10:00:0x",
            "+024-03-01 10:00:00",
            "2024/03/01 10:00:00",
            "0000-01-01 00:00:00",
        ];
        for text in texts {
            let chrono = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
                .iter()
                .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok());
            let fast = canonical(text);
            assert!(
                fast.is_none() || fast == chrono,
                "{text}: {fast:?} {chrono:?}"
            );
            let both = canonical(text).or(chrono);
            assert_eq!(
                parse(text).map(|t| t.utc),
                both.map(|n| n.and_utc().timestamp())
            );
        }
        assert!(canonical("2024-03-01 10:00:00").is_some());
        assert!(canonical("2024-03-01 10:00").is_some());
    }

    #[test]
    fn placeholders_are_not_dates() {
        for raw in ["", "N/A", "None", "2024-13-01 10:00:00", "yesterday"] {
            assert_eq!(parse(raw), None, "{raw}");
        }
    }

    #[test]
    fn leading_date_is_split_from_a_message_line() {
        let (ts, rest) = split_leading("2024-03-01 10:00:00 UTC alice: hi: there").unwrap();
        assert_eq!(ts.raw, "2024-03-01 10:00:00 UTC");
        assert!(!ts.assumed_utc);
        assert_eq!(rest, "alice: hi: there");
        let (ts, rest) = split_leading("2024-03-01 10:00:00 bob: yo").unwrap();
        assert!(ts.assumed_utc);
        assert_eq!(rest, "bob: yo");
        assert!(split_leading("no date here at all, sorry").is_none());
    }
}
