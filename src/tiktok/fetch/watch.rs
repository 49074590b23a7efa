//! The profile watch: one public profile page (`https://www.tiktok.com/@NAME`), its
//! avatar, and the posts it lists, in one run of the downloader's client — the same
//! pace, cookie jar, bot-wall answers, host rules and size caps as post downloads.
//!
//! Failures are data, as for posts: a private or missing account, a block or an
//! unanswerable bot wall is the profile's [`Failure`]; an avatar that cannot be fetched
//! is noted beside a profile that was read.

use reqwest::Url;

use super::media::{MediaUrl, PlannedFile, Role};
use super::profile::{self, Profile, ProfilePage};
use super::run::{failure, fetch_embedded, fetch_file, run_all, session, Ctx, Embedded};
use super::Target;
use super::{FailReason, Failure, FetchConfig, FetchError, MediaSink, PostResult, StoredFile};

/// The largest avatar image fetched (TikTok's are well under 1 MiB).
pub const MAX_AVATAR: u64 = 16 << 20;

/// What watching one profile gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRun {
    /// `https://www.tiktok.com/@NAME` (the logical address, whatever [`super::BASE_ENV`] says).
    pub page: String,
    pub outcome: Result<Watched, Failure>,
    /// The listed posts not yet in the vault, as the downloader left them (posts
    /// already archived come back as `AlreadyArchived`).
    pub posts: Vec<PostResult>,
}

/// A profile page that was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub profile: Profile,
    /// The avatar's path in the snapshot and the stored file.
    pub avatar: Option<(String, StoredFile)>,
    /// Why the avatar the page names could not be stored.
    pub avatar_failure: Option<Failure>,
}

/// The profile page address of `username`.
pub fn profile_page(username: &str) -> String {
    format!("https://www.tiktok.com/@{username}")
}

/// Fetches the profile page of `username` (checked with [`profile::valid_username`]),
/// stores its avatar through `sink` at `profile/NAME/avatar.EXT`, then downloads the
/// posts it lists, as [`super::try_download_all`] does (`progress` after each post,
/// `source` "profile"). Only an unusable configuration is an error.
pub fn watch_profile(
    cfg: &FetchConfig,
    username: &str,
    sink: &dyn MediaSink,
    progress: &(dyn Fn(&PostResult) + Sync),
) -> Result<ProfileRun, FetchError> {
    session(cfg, sink, async |ctx| watch(ctx, username, progress).await)
}

async fn watch(
    ctx: &Ctx<'_>,
    username: &str,
    progress: &(dyn Fn(&PostResult) + Sync),
) -> ProfileRun {
    let page = profile_page(username);
    let mut run = ProfileRun {
        page: page.clone(),
        outcome: Err(failure(
            FailReason::BadLink,
            format!("{username:?} is not a TikTok username (letters, digits, _ and . only)"),
            None,
            0,
        )),
        posts: Vec::new(),
    };
    let Some(url) = profile::valid_username(username)
        .then(|| Url::parse(&page).ok())
        .flatten()
    else {
        return run;
    };
    let mut attempts = 0;
    let found = fetch_embedded(ctx, &url, &mut attempts, |body| {
        Ok(match profile::parse(body, username)? {
            ProfilePage::Profile(p) => Embedded::Data(p),
            ProfilePage::Status { code, message } => Embedded::Status { code, message },
        })
    })
    .await;
    let profile = match found {
        Ok(p) => p,
        Err(mut f) => {
            // A profile page that is gone (HTTP 404/410) is an account that is gone.
            if f.reason == FailReason::Deleted {
                f.reason = FailReason::AccountNotFound;
            }
            run.outcome = Err(f);
            return run;
        }
    };
    let mut watched = Watched {
        avatar: None,
        avatar_failure: None,
        profile,
    };
    if let Some(avatar_url) = watched.profile.avatar_url.clone() {
        let path = format!("profile/{username}/avatar.{}", image_extension(&avatar_url));
        let file = PlannedFile {
            role: Role::Image,
            suffix: String::new(),
            candidates: vec![MediaUrl {
                url: avatar_url,
                label: "avatar".into(),
                codec: None,
                watermarked: false,
            }],
            required: false,
            lang: None,
        };
        let max = MAX_AVATAR.min(ctx.cfg.max_file_size);
        match fetch_file(ctx, &file, &path, &page, max, &mut attempts).await {
            Ok((stored, _)) => watched.avatar = Some((path, stored)),
            Err(f) => watched.avatar_failure = Some(f),
        }
    }
    let targets: Vec<Target> = watched
        .profile
        .listed_posts
        .iter()
        .map(|id| Target {
            link: format!("{page}/video/{id}"),
            video_id: Some(id.clone()),
            date: None,
            source: "profile".into(),
        })
        .collect();
    run.outcome = Ok(watched);
    if !targets.is_empty() {
        run.posts = run_all(ctx, targets, progress).await;
    }
    run
}

/// The image type an avatar URL names (`…~c5_1080x1080.jpeg?x-expires=…`), else jpeg.
fn image_extension(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "png",
        Some("webp") => "webp",
        Some("gif") => "gif",
        Some("heic") => "heic",
        _ => "jpeg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_types_come_from_the_url() {
        assert_eq!(
            image_extension("https://p16.tiktokcdn.com/a/b~c5_1080x1080.webp?x=1.png"),
            "webp"
        );
        assert_eq!(image_extension("https://p16.tiktokcdn.com/a/b"), "jpeg");
        assert_eq!(image_extension("https://x/../etc/passwd.sh"), "jpeg");
    }

    #[test]
    fn a_bad_username_is_a_failure_not_a_request() {
        struct NoSink;
        impl MediaSink for NoSink {
            fn store(&self, _: &str, _: &mut dyn std::io::Read) -> std::io::Result<StoredFile> {
                Err(std::io::Error::other("no"))
            }
            fn already_archived(&self, _: &str) -> bool {
                false
            }
        }
        let cfg = FetchConfig {
            base: Some("http://127.0.0.1:9".into()),
            ..FetchConfig::default()
        };
        let run = watch_profile(&cfg, "../x", &NoSink, &|_| {}).unwrap();
        let f = run.outcome.unwrap_err();
        assert_eq!(f.reason, FailReason::BadLink);
        assert_eq!(f.attempts, 0);
    }
}
