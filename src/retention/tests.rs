//! Table tests for [`apply`]. Every expected keep set below was worked out by hand from
//! the series described on [`series`] and a calendar, never by running the code.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};

use super::*;

/// The local zone of the synthetic series (periods are counted in it).
fn tz() -> FixedOffset {
    FixedOffset::east_opt(2 * 3600).unwrap()
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap()
}

/// "YYYY-MM-DDTHH:MM" in [`tz`] as a UTC instant.
fn local(text: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").unwrap();
    tz().from_local_datetime(&naive).unwrap().to_utc()
}

/// After every snapshot of the series.
fn now() -> DateTime<Utc> {
    local("2025-01-05T12:00")
}

/// Two years of snapshots, ids are their local times ("2024-12-30T23:45"):
/// - one a day at 10:00 from 2023-01-01 (a Sunday, ISO week 2022-W52) to 2024-12-30
///   (a Monday, ISO week 2025-W01);
/// - none at all in November 2024 (the gap; 2024-10-31 is a Thursday, 2024-12-01 a Sunday);
/// - three extra snapshots on four days:
///   2024-12-30 at 00:30, 10:20, 23:45; 2024-12-29 at 09:00, 18:00, 21:00;
///   2024-10-31 at 11:00, 16:00, 22:00; 2023-12-31 at 12:00, 20:00, 23:59.
///
/// That is 365 + 366 - 1 - 30 = 700 daily snapshots and 12 extras.
fn series() -> Vec<Candidate> {
    let mut ids = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2024, 12, 30).unwrap();
    while day <= last {
        if !(day.year() == 2024 && day.month() == 11) {
            ids.push(format!("{day}T10:00"));
        }
        day = day.succ_opt().unwrap();
    }
    for extra in [
        "2024-12-30T00:30",
        "2024-12-30T10:20",
        "2024-12-30T23:45",
        "2024-12-29T09:00",
        "2024-12-29T18:00",
        "2024-12-29T21:00",
        "2024-10-31T11:00",
        "2024-10-31T16:00",
        "2024-10-31T22:00",
        "2023-12-31T12:00",
        "2023-12-31T20:00",
        "2023-12-31T23:59",
    ] {
        ids.push(extra.to_string());
    }
    ids.into_iter()
        .map(|id| Candidate {
            taken_at: local(&id),
            id,
        })
        .collect()
}

fn run(policy: &Policy) -> Vec<Decision> {
    apply(policy, &series(), now(), tz())
}

fn kept_ids(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| d.id.as_str())
        .collect()
}

fn reasons_of<'a>(decisions: &'a [Decision], id: &str) -> Vec<&'a str> {
    let decision = decisions.iter().find(|d| d.id == id).unwrap();
    decision.reasons.iter().map(String::as_str).collect()
}

/// Asserts the exact kept ids (newest first) and that every kept one has exactly
/// `reason` as its only reason.
fn assert_single_rule(policy: Policy, reason: &str, want: &[&str]) {
    let decisions = run(&policy);
    assert_eq!(kept_ids(&decisions), want, "{policy}");
    for id in want {
        assert_eq!(reasons_of(&decisions, id), [reason], "{id}");
    }
}

#[test]
fn series_has_the_described_shape() {
    let all = series();
    assert_eq!(all.len(), 712);
    let decisions = apply(&Policy::default(), &all, now(), tz());
    assert_eq!(decisions.len(), 712);
    assert_eq!(decisions[0].id, "2024-12-30T23:45");
    assert_eq!(decisions[711].id, "2023-01-01T10:00");
    assert!(decisions.windows(2).all(|w| w[0].taken_at > w[1].taken_at));
    assert!(!decisions.iter().any(|d| d.id.starts_with("2024-11")));
}

#[test]
fn input_order_does_not_matter() {
    let policy = Policy {
        last: Some(3),
        weekly: Some(5),
        ..Policy::default()
    };
    let mut shuffled = series();
    shuffled.reverse();
    shuffled.rotate_left(300);
    assert_eq!(apply(&policy, &shuffled, now(), tz()), run(&policy));
}

#[test]
fn keep_last() {
    let policy = Policy {
        last: Some(5),
        ..Policy::default()
    };
    let want = [
        "2024-12-30T23:45",
        "2024-12-30T10:20",
        "2024-12-30T10:00",
        "2024-12-30T00:30",
        "2024-12-29T21:00",
    ];
    assert_single_rule(policy, "last snapshot", &want);
}

#[test]
fn keep_hourly_takes_the_newest_of_each_hour() {
    // 10:20 and 10:00 on the 30th share an hour (10:20 is newer); the sixth hour is
    // 29 Dec 10h, so 29 Dec 09:00 is not reached.
    let policy = Policy {
        hourly: Some(6),
        ..Policy::default()
    };
    let want = [
        "2024-12-30T23:45",
        "2024-12-30T10:20",
        "2024-12-30T00:30",
        "2024-12-29T21:00",
        "2024-12-29T18:00",
        "2024-12-29T10:00",
    ];
    assert_single_rule(policy, "hourly snapshot", &want);
}

#[test]
fn keep_daily_takes_the_newest_of_each_day() {
    let policy = Policy {
        daily: Some(7),
        ..Policy::default()
    };
    let want = [
        "2024-12-30T23:45",
        "2024-12-29T21:00",
        "2024-12-28T10:00",
        "2024-12-27T10:00",
        "2024-12-26T10:00",
        "2024-12-25T10:00",
        "2024-12-24T10:00",
    ];
    assert_single_rule(policy, "daily snapshot", &want);
}

#[test]
fn keep_weekly_uses_iso_weeks_and_skips_empty_ones() {
    // 2025-W01 holds only Monday 30 Dec; 2024-W52 is 23-29 Dec; W51, W50, W49 end on
    // Sundays 22, 15, 8 Dec; W48 (25 Nov - 1 Dec) has only 1 Dec; W45-W47 are empty;
    // W44 (28 Oct - 3 Nov) ends with 31 Oct 22:00.
    let policy = Policy {
        weekly: Some(7),
        ..Policy::default()
    };
    let want = [
        "2024-12-30T23:45",
        "2024-12-29T21:00",
        "2024-12-22T10:00",
        "2024-12-15T10:00",
        "2024-12-08T10:00",
        "2024-12-01T10:00",
        "2024-10-31T22:00",
    ];
    assert_single_rule(policy, "weekly snapshot", &want);
}

#[test]
fn keep_monthly_skips_the_empty_month() {
    let policy = Policy {
        monthly: Some(12),
        ..Policy::default()
    };
    let want = [
        "2024-12-30T23:45",
        "2024-10-31T22:00",
        "2024-09-30T10:00",
        "2024-08-31T10:00",
        "2024-07-31T10:00",
        "2024-06-30T10:00",
        "2024-05-31T10:00",
        "2024-04-30T10:00",
        "2024-03-31T10:00",
        "2024-02-29T10:00",
        "2024-01-31T10:00",
        "2023-12-31T23:59",
    ];
    assert_single_rule(policy, "monthly snapshot", &want);
}

#[test]
fn keep_yearly_with_periods_left_also_keeps_the_oldest() {
    let policy = Policy {
        yearly: Some(5),
        ..Policy::default()
    };
    let decisions = run(&policy);
    assert_eq!(
        kept_ids(&decisions),
        ["2024-12-30T23:45", "2023-12-31T23:59", "2023-01-01T10:00"]
    );
    assert_eq!(
        reasons_of(&decisions, "2023-12-31T23:59"),
        ["yearly snapshot"]
    );
    assert_eq!(
        reasons_of(&decisions, "2023-01-01T10:00"),
        ["oldest yearly snapshot"]
    );
}

#[test]
fn unlimited_monthly_keeps_every_month_and_the_oldest() {
    let policy = Policy {
        monthly: Some(UNLIMITED),
        ..Policy::default()
    };
    let decisions = run(&policy);
    let want = [
        "2024-12-30T23:45",
        "2024-10-31T22:00",
        "2024-09-30T10:00",
        "2024-08-31T10:00",
        "2024-07-31T10:00",
        "2024-06-30T10:00",
        "2024-05-31T10:00",
        "2024-04-30T10:00",
        "2024-03-31T10:00",
        "2024-02-29T10:00",
        "2024-01-31T10:00",
        "2023-12-31T23:59",
        "2023-11-30T10:00",
        "2023-10-31T10:00",
        "2023-09-30T10:00",
        "2023-08-31T10:00",
        "2023-07-31T10:00",
        "2023-06-30T10:00",
        "2023-05-31T10:00",
        "2023-04-30T10:00",
        "2023-03-31T10:00",
        "2023-02-28T10:00",
        "2023-01-31T10:00",
        "2023-01-01T10:00",
    ];
    assert_eq!(kept_ids(&decisions), want);
    assert_eq!(
        reasons_of(&decisions, "2023-01-31T10:00"),
        ["monthly snapshot"]
    );
    assert_eq!(
        reasons_of(&decisions, "2023-01-01T10:00"),
        ["oldest monthly snapshot"]
    );
}

#[test]
fn unlimited_daily_removes_only_the_earlier_snapshots_of_busy_days() {
    let policy = Policy {
        daily: Some(UNLIMITED),
        ..Policy::default()
    };
    let decisions = run(&policy);
    let removed: Vec<&str> = decisions
        .iter()
        .filter(|d| !d.keep)
        .map(|d| d.id.as_str())
        .collect();
    let want = [
        "2024-12-30T10:20",
        "2024-12-30T10:00",
        "2024-12-30T00:30",
        "2024-12-29T18:00",
        "2024-12-29T10:00",
        "2024-12-29T09:00",
        "2024-10-31T16:00",
        "2024-10-31T11:00",
        "2024-10-31T10:00",
        "2023-12-31T20:00",
        "2023-12-31T12:00",
        "2023-12-31T10:00",
    ];
    assert_eq!(removed, want);
    assert!(decisions.iter().all(|d| d.reasons.is_empty() != d.keep));
    // The oldest snapshot is alone on its day: an ordinary daily keeper.
    assert_eq!(
        reasons_of(&decisions, "2023-01-01T10:00"),
        ["daily snapshot"]
    );
}

#[test]
fn keep_within_measures_from_the_newest_snapshot() {
    // Newest is 30 Dec 23:45, so 7 days back is 23 Dec 23:45: 23 Dec 10:00 is out.
    let want = [
        "2024-12-30T23:45",
        "2024-12-30T10:20",
        "2024-12-30T10:00",
        "2024-12-30T00:30",
        "2024-12-29T21:00",
        "2024-12-29T18:00",
        "2024-12-29T10:00",
        "2024-12-29T09:00",
        "2024-12-28T10:00",
        "2024-12-27T10:00",
        "2024-12-26T10:00",
        "2024-12-25T10:00",
        "2024-12-24T10:00",
    ];
    for (text, reason) in [("7d", "within 7d"), ("1w", "within 1w")] {
        let policy = Policy {
            within: Some(text.parse().unwrap()),
            ..Policy::default()
        };
        assert_single_rule(policy, reason, &want);
    }
}

#[test]
fn keep_within_excludes_the_exact_boundary() {
    let snaps: Vec<Candidate> = ["2024-05-01T10:00", "2024-05-02T10:00", "2024-05-03T10:00"]
        .into_iter()
        .map(|id| Candidate {
            id: id.to_string(),
            taken_at: local(id),
        })
        .collect();
    for (span, want) in [
        ("1d", &["2024-05-03T10:00"][..]),
        ("1d1h", &["2024-05-03T10:00", "2024-05-02T10:00"][..]),
    ] {
        let policy = Policy {
            within: Some(span.parse().unwrap()),
            ..Policy::default()
        };
        let decisions = apply(&policy, &snaps, now(), tz());
        assert_eq!(kept_ids(&decisions), want, "{span}");
    }
}

#[test]
fn keep_within_ignores_snapshots_dated_in_the_future() {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let snaps = [
        ("a", "2025-01-01T10:00:00Z"),
        ("b", "2025-01-02T10:00:00Z"),
        ("future", "2025-03-01T10:00:00Z"),
    ]
    .map(|(id, t)| Candidate {
        id: id.to_string(),
        taken_at: at(t),
    });
    let policy = Policy {
        within: Some("1d".parse().unwrap()),
        ..Policy::default()
    };
    let decisions = apply(&policy, &snaps, at("2025-01-03T00:00:00Z"), utc());
    // Measured from "b", not from the future one; "a" sits exactly on the boundary.
    assert_eq!(kept_ids(&decisions), ["future", "b"]);
    // When everything is in the future there is no window to measure: all stay.
    let decisions = apply(&policy, &snaps, at("2020-01-01T00:00:00Z"), utc());
    assert_eq!(kept_ids(&decisions), ["future", "b", "a"]);
}

#[test]
fn combination_lists_every_reason_once_per_rule() {
    let policy = Policy {
        last: Some(3),
        daily: Some(7),
        weekly: Some(4),
        monthly: Some(3),
        ..Policy::default()
    };
    let decisions = run(&policy);
    let want: [(&str, &[&str]); 13] = [
        (
            "2024-12-30T23:45",
            &[
                "last snapshot",
                "daily snapshot",
                "weekly snapshot",
                "monthly snapshot",
            ],
        ),
        ("2024-12-30T10:20", &["last snapshot"]),
        ("2024-12-30T10:00", &["last snapshot"]),
        ("2024-12-29T21:00", &["daily snapshot", "weekly snapshot"]),
        ("2024-12-28T10:00", &["daily snapshot"]),
        ("2024-12-27T10:00", &["daily snapshot"]),
        ("2024-12-26T10:00", &["daily snapshot"]),
        ("2024-12-25T10:00", &["daily snapshot"]),
        ("2024-12-24T10:00", &["daily snapshot"]),
        ("2024-12-22T10:00", &["weekly snapshot"]),
        ("2024-12-15T10:00", &["weekly snapshot"]),
        ("2024-10-31T22:00", &["monthly snapshot"]),
        ("2024-09-30T10:00", &["monthly snapshot"]),
    ];
    let got: Vec<(&str, Vec<&str>)> = decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| {
            (
                d.id.as_str(),
                d.reasons.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let want: Vec<(&str, Vec<&str>)> = want.iter().map(|(id, r)| (*id, r.to_vec())).collect();
    assert_eq!(got, want);
    assert_eq!(decisions.iter().filter(|d| !d.keep).count(), 712 - 13);
}

#[test]
fn combination_from_the_issue() {
    // --keep-last 4 --keep-daily 7 --keep-weekly 8 --keep-monthly 12 --keep-yearly 5
    let policy = Policy {
        last: Some(4),
        daily: Some(7),
        weekly: Some(8),
        monthly: Some(12),
        yearly: Some(5),
        within: None,
        hourly: None,
    };
    let decisions = run(&policy);
    let want = [
        "2024-12-30T23:45",
        "2024-12-30T10:20",
        "2024-12-30T10:00",
        "2024-12-30T00:30",
        "2024-12-29T21:00",
        "2024-12-28T10:00",
        "2024-12-27T10:00",
        "2024-12-26T10:00",
        "2024-12-25T10:00",
        "2024-12-24T10:00",
        "2024-12-22T10:00",
        "2024-12-15T10:00",
        "2024-12-08T10:00",
        "2024-12-01T10:00",
        "2024-10-31T22:00",
        "2024-10-27T10:00",
        "2024-09-30T10:00",
        "2024-08-31T10:00",
        "2024-07-31T10:00",
        "2024-06-30T10:00",
        "2024-05-31T10:00",
        "2024-04-30T10:00",
        "2024-03-31T10:00",
        "2024-02-29T10:00",
        "2024-01-31T10:00",
        "2023-12-31T23:59",
        "2023-01-01T10:00",
    ];
    assert_eq!(kept_ids(&decisions), want);
    assert_eq!(
        reasons_of(&decisions, "2024-12-30T23:45"),
        [
            "last snapshot",
            "daily snapshot",
            "weekly snapshot",
            "monthly snapshot",
            "yearly snapshot"
        ]
    );
    assert_eq!(
        reasons_of(&decisions, "2024-10-31T22:00"),
        ["weekly snapshot", "monthly snapshot"]
    );
    assert_eq!(
        reasons_of(&decisions, "2024-10-27T10:00"),
        ["weekly snapshot"]
    );
    assert_eq!(
        reasons_of(&decisions, "2023-12-31T23:59"),
        ["monthly snapshot", "yearly snapshot"]
    );
    assert_eq!(
        reasons_of(&decisions, "2023-01-01T10:00"),
        ["oldest yearly snapshot"]
    );
    assert!(reasons_of(&decisions, "2024-12-23T10:00").is_empty());
}

#[test]
fn combination_of_within_and_monthly() {
    // 10 days before 30 Dec 23:45 is 20 Dec 23:45.
    let policy = Policy {
        monthly: Some(2),
        within: Some("10d".parse().unwrap()),
        ..Policy::default()
    };
    let decisions = run(&policy);
    let want = [
        "2024-12-30T23:45",
        "2024-12-30T10:20",
        "2024-12-30T10:00",
        "2024-12-30T00:30",
        "2024-12-29T21:00",
        "2024-12-29T18:00",
        "2024-12-29T10:00",
        "2024-12-29T09:00",
        "2024-12-28T10:00",
        "2024-12-27T10:00",
        "2024-12-26T10:00",
        "2024-12-25T10:00",
        "2024-12-24T10:00",
        "2024-12-23T10:00",
        "2024-12-22T10:00",
        "2024-12-21T10:00",
        "2024-10-31T22:00",
    ];
    assert_eq!(kept_ids(&decisions), want);
    assert_eq!(
        reasons_of(&decisions, "2024-12-30T23:45"),
        ["monthly snapshot", "within 10d"]
    );
    assert_eq!(reasons_of(&decisions, "2024-12-21T10:00"), ["within 10d"]);
    assert_eq!(
        reasons_of(&decisions, "2024-10-31T22:00"),
        ["monthly snapshot"]
    );
}

#[test]
fn combination_with_exhausted_counts_keeps_no_oldest() {
    let policy = Policy {
        last: Some(1),
        yearly: Some(1),
        ..Policy::default()
    };
    let decisions = run(&policy);
    assert_eq!(kept_ids(&decisions), ["2024-12-30T23:45"]);
    assert_eq!(
        reasons_of(&decisions, "2024-12-30T23:45"),
        ["last snapshot", "yearly snapshot"]
    );
}

#[test]
fn periods_follow_the_given_time_zone() {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let snaps = [
        ("c", "2024-03-09T12:00:00Z"),
        ("a", "2024-03-10T21:00:00Z"),
        ("b", "2024-03-10T23:30:00Z"),
    ]
    .map(|(id, t)| Candidate {
        id: id.to_string(),
        taken_at: at(t),
    });
    let policy = Policy {
        daily: Some(2),
        ..Policy::default()
    };
    let now = at("2024-04-01T00:00:00Z");
    // In UTC "a" and "b" share 10 March; at +02:00 "b" is already 11 March, 01:30.
    let utc = apply(&policy, &snaps, now, utc());
    assert_eq!(kept_ids(&utc), ["b", "c"]);
    let plus_two = apply(&policy, &snaps, now, tz());
    assert_eq!(kept_ids(&plus_two), ["b", "a"]);
}

#[test]
fn an_iso_week_straddles_new_year() {
    // Mon 29 Dec 2025 to Sun 4 Jan 2026 is 2026-W01; Sun 28 Dec 2025 ends 2025-W52.
    let snaps = ["2025-12-28T10:00", "2025-12-29T10:00", "2026-01-02T10:00"].map(|id| Candidate {
        id: id.to_string(),
        taken_at: local(id),
    });
    let policy = Policy {
        weekly: Some(2),
        ..Policy::default()
    };
    let decisions = apply(&policy, &snaps, local("2026-02-01T00:00"), tz());
    assert_eq!(
        kept_ids(&decisions),
        ["2026-01-02T10:00", "2025-12-28T10:00"]
    );
}

#[test]
fn equal_times_are_ordered_by_id() {
    let t = local("2024-05-01T10:00");
    let snaps = ["x", "y"].map(|id| Candidate {
        id: id.to_string(),
        taken_at: t,
    });
    let policy = Policy {
        last: Some(1),
        ..Policy::default()
    };
    for input in [snaps.to_vec(), snaps.iter().rev().cloned().collect()] {
        let decisions = apply(&policy, &input, now(), tz());
        assert_eq!(kept_ids(&decisions), ["y"]);
    }
}

#[test]
fn empty_policy_keeps_everything() {
    let zeroes = Policy {
        last: Some(0),
        daily: Some(0),
        ..Policy::default()
    };
    for policy in [Policy::default(), zeroes] {
        assert!(policy.is_empty());
        let decisions = run(&policy);
        assert_eq!(decisions.len(), 712);
        assert!(decisions
            .iter()
            .all(|d| d.keep && d.reasons == [EMPTY_POLICY_REASON]));
    }
    let one_rule = Policy {
        hourly: Some(1),
        ..Policy::default()
    };
    assert!(!one_rule.is_empty());
    let within = Policy {
        within: Some("1h".parse().unwrap()),
        ..Policy::default()
    };
    assert!(!within.is_empty());
}

#[test]
fn no_snapshots_no_decisions() {
    let policy = Policy {
        last: Some(3),
        within: Some("1y".parse().unwrap()),
        ..Policy::default()
    };
    assert!(apply(&policy, &[], now(), tz()).is_empty());
}

#[test]
fn describes_the_policy() {
    let policy = Policy {
        last: Some(4),
        daily: Some(7),
        monthly: Some(UNLIMITED),
        yearly: Some(0),
        within: Some("90d".parse().unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        policy.to_string(),
        "keep 4 last, 7 daily, all monthly snapshots and all snapshots within 90d of the newest"
    );
    let within_only = Policy {
        within: Some("1y6m".parse().unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        within_only.to_string(),
        "keep all snapshots within 1y6m of the newest"
    );
    assert_eq!(
        Policy::default().to_string(),
        "keep everything (empty policy)"
    );
}

#[test]
fn parses_counts() {
    assert_eq!(parse_count("7"), Ok(7));
    assert_eq!(parse_count("0"), Ok(0));
    assert_eq!(parse_count("unlimited"), Ok(UNLIMITED));
    for bad in ["-1", "", "seven", "1.5", "Unlimited", "99999999999"] {
        let err = parse_count(bad).unwrap_err();
        assert_eq!(err.text, bad);
        assert!(
            err.to_string()
                .starts_with(&format!("invalid count {bad:?}: ")),
            "{err}"
        );
    }
}

#[test]
fn dates_in_ids_match_times() {
    // Guards the helpers the other tests lean on: ids are the local time of the snapshot.
    let s = series();
    let one = s.iter().find(|c| c.id == "2024-12-30T00:30").unwrap();
    assert_eq!(one.taken_at.to_rfc3339(), "2024-12-29T22:30:00+00:00");
}
