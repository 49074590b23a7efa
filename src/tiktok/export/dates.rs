//! Export dates.
//!
//! Every layout writes `YYYY-MM-DD HH:MM:SS`. Most carry no zone (TikTok documents none;
//! comparing with app times suggests UTC), newer TXT exports and some JSON values append
//! ` UTC`. Both become a UTC instant; the zone-less ones are flagged as assumed.

use chrono::NaiveDateTime;

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
    let text = raw.trim();
    let (body, assumed_utc) = match text.strip_suffix("UTC").or_else(|| text.strip_suffix('Z')) {
        Some(rest) => (rest.trim_end(), false),
        None => (text, true),
    };
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(body, fmt).ok())?;
    Some(Timestamp {
        raw: raw.to_string(),
        utc: naive.and_utc().timestamp(),
        assumed_utc,
    })
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
