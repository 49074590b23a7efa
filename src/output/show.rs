//! The human text of `show` and `diff`: an export section as a table or a list of
//! fields, a diff as one line per change.

use std::io::Write;

use tt_vault::commands::show::{Column, RowView};

/// Columns of the human `show` table per section: (heading, view key).
fn show_columns(section: &str) -> &'static [(&'static str, &'static str)] {
    match section {
        "posts" => &[
            ("date", "date"),
            ("id", "id"),
            ("archived", "archived"),
            ("failed", "failed"),
            ("likes", "likes"),
            ("sound", "sound"),
            ("caption", "caption"),
            ("link", "link"),
        ],
        "likes" | "reposts" => &[
            ("date", "date"),
            ("id", "id"),
            ("archived", "archived"),
            ("link", "link"),
        ],
        "history" => &[("date", "date"), ("id", "id"), ("link", "link")],
        "comments" => &[("date", "date"), ("comment", "comment")],
        "following" | "followers" | "blocked" => &[("date", "date"), ("username", "username")],
        "messages" => &[
            ("date", "date"),
            ("chat", "chat"),
            ("from", "from"),
            ("content", "content"),
        ],
        "searches" => &[("date", "date"), ("term", "term")],
        "sounds" | "effects" | "hashtags" => &[("date", "date"), ("link", "link")],
        "collections" => &[("date", "date"), ("name", "name")],
        "favorites" => &[
            ("date", "date"),
            ("id", "id"),
            ("archived", "archived"),
            ("collection", "collection"),
            ("link", "link"),
        ],
        "off-tiktok" => &[("date", "date"), ("source", "source"), ("event", "event")],
        "settings" | "activity-summary" => &[("name", "name"), ("value", "value")],
        "devices" => &[
            ("resolution", "resolution"),
            ("app version", "app_version"),
            ("idfa", "idfa"),
            ("gaid", "gaid"),
            ("android id", "android_id"),
            ("idfv", "idfv"),
            ("uid", "uid"),
            ("did", "did"),
            ("web id", "web_id"),
        ],
        "location" => &[("date", "date"), ("gps", "gps"), ("region", "region")],
        "profile-views" => &[("date", "date"), ("username", "username")],
        "logins" => &[
            ("date", "date"),
            ("ip", "ip"),
            ("device", "device"),
            ("system", "system"),
            ("network", "network"),
            ("carrier", "carrier"),
        ],
        "raw" => &[("section", "section")],
        _ => &[("date", "date"), ("text", "text"), ("link", "link")],
    }
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => one_line(s),
        other => other.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// Prints the profile view: each field with the source it came from, then the
/// export's counts and original fields.
pub fn print_profile(view: &serde_json::Value) {
    let when = |source: &str| match source {
        "export" => format!("export of {}", cell(&view["export"]["taken_at"])),
        other => format!(
            "{other}, read {}",
            cell(&view["profile_page"]["fetched_at"])
        ),
    };
    if let Some(f) = view["profile_page_failed"].as_object() {
        println!(
            "{:<14} not read at this snapshot: {} ({})",
            "profile page",
            cell(&f["reason_text"]),
            cell(&f["detail"])
        );
    }
    for key in [
        "username",
        "display_name",
        "bio",
        "bio_link",
        "avatar",
        "verified",
        "private",
        "followers",
        "following",
        "hearts",
        "videos",
    ] {
        let Some(source) = view["sources"][key].as_str() else {
            continue;
        };
        let value = match key {
            "avatar" => cell(&view[key]["path"]),
            _ => cell(&view[key]),
        };
        println!("{key:<14} {value}  ({})", when(source));
    }
    if let Some(counts) = view["counts"].as_object() {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("{:<14} {}", "in the export", parts.join(", "));
    }
    for (k, v) in view["fields"].as_object().into_iter().flatten() {
        println!("  {k:<22} {}", cell(v));
    }
}

/// A table printed as rows stream in: columns are sized on blocks of rows, so a
/// section of millions of rows is never held at once.
pub struct Table {
    cols: &'static [(&'static str, &'static str)],
    block: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    rows: u64,
    /// Buffered: stdout alone writes each line with its own system call.
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

const TABLE_BLOCK: usize = 1000;

impl Table {
    pub fn new(section: &str) -> Table {
        Table {
            cols: show_columns(section),
            block: Vec::new(),
            widths: None,
            rows: 0,
            out: super::bulk_stdout(),
        }
    }

    pub fn push(&mut self, row: &RowView) -> std::io::Result<()> {
        let text = |key: &str| match row.column(key) {
            Column::Text(s) => one_line(s),
            Column::Json(v) => cell(&v),
        };
        self.block
            .push(self.cols.iter().map(|(_, key)| text(key)).collect());
        self.rows += 1;
        if self.block.len() == TABLE_BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let widths = self.widths.get_or_insert_with(|| {
            self.cols
                .iter()
                .enumerate()
                .map(|(i, (head, _))| {
                    self.block
                        .iter()
                        .map(|r| r[i].chars().count().min(60))
                        .chain([head.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect()
        });
        let mut text = String::new();
        // Each cell padded with spaces to its column's width in characters (as
        // `{:<w$}` pads), two spaces between, no trailing blanks.
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            text.clear();
            for (n, (c, w)) in cells.zip(widths.iter()).enumerate() {
                if n > 0 {
                    text.push_str("  ");
                }
                text.push_str(c);
                let pad = w.saturating_sub(c.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
            text.truncate(text.trim_end().len());
            text.push('\n');
            self.out.write_all(text.as_bytes())
        };
        if self.rows <= self.block.len() as u64 {
            line(&mut self.cols.iter().map(|(h, _)| *h))?;
        }
        for r in self.block.drain(..) {
            line(&mut r.iter().map(String::as_str))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush()?;
        writeln!(self.out, "({} rows)", self.rows)?;
        self.out.flush()
    }
}

/// Prints a diff: one line per change.
pub fn print_diff(diff: &serde_json::Value) {
    let mut any = false;
    for (key, label) in [("profile", "profile"), ("profile_page", "profile page")] {
        for (field, v) in diff[key]["changed"].as_object().into_iter().flatten() {
            any = true;
            println!("{label} {field}: {} -> {}", v[0], v[1]);
        }
    }
    for (section, d) in diff.as_object().into_iter().flatten() {
        for (what, sign) in [("added", "+"), ("removed", "-"), ("changed", "~")] {
            for item in d[what].as_array().into_iter().flatten() {
                any = true;
                println!("{sign} {section}: {}", item.as_str().unwrap_or_default());
            }
        }
    }
    if !any {
        println!("no changes");
    }
}
