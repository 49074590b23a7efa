//! Where each section lives in each known layout. This table is the one place that
//! knows TikTok's key names; everything not listed here is kept raw.
//!
//! JSON (`user_data.json`, later `user_data_tiktok.json`): a map of categories, each a
//! map of sections, each a map holding one list (plus metadata siblings such as `App`
//! and `IsFastLane`, which are not data).
//!
//! | section    | 2020–2023                                   | 2024–2025                            | 2026                                          |
//! |------------|---------------------------------------------|--------------------------------------|-----------------------------------------------|
//! | profile    | Profile › Profile Information › ProfileMap  | Profile › Profile Info › ProfileMap  | Profile And Settings › Profile Info › ProfileMap |
//! | posts      | Video › Videos › VideoList                  | Post › Posts › VideoList             | Post › Posts › VideoList                      |
//! | likes      | Activity › Like List › ItemFavoriteList     | Your Activity › Like List › ItemFavoriteList (lowercase `date`/`link`) | Likes and Favorites › Like List › ItemFavoriteList |
//! | favorites  | Activity › Favorite Videos › FavoriteVideoList | Your Activity › Favorite Videos › … | Likes and Favorites › Favorite Videos › …     |
//! | comments   | Comment › Comments › CommentsList           | same, lowercase `date`/`comment`     | same                                          |
//! | followers  | Activity › Follower List › FansList         | Your Activity › Follower › FansList  | Profile And Settings › Follower › FansList    |
//! | following  | Activity › Following List › Following      | Your Activity › Following › Following | Profile And Settings › Following › Following |
//! | messages   | Direct Messages › Chat History › ChatHistory | Direct Message › Direct Messages › ChatHistory | same as 2024                    |
//! | history    | Activity › Video Browsing History › VideoList | Your Activity › Watch History › VideoList | same as 2024                          |
//! | searches   | Activity › Search History › SearchList      | Your Activity › Searches › SearchList | same as 2024                                 |
//! | logins     | Activity › Login History › LoginHistoryList | Your Activity › Login History › …    | same                                          |
//! | shares     | Activity › Share History › ShareHistoryList | Your Activity › Share History › …    | same                                          |
//! | reposts    | —                                           | —                                    | Your Activity › Reposts › RepostList          |
//! | blocked    | App Settings › Block List › BlockList       | same                                 | Profile And Settings › Block List › BlockList |
//! | sounds, effects, hashtags | Activity › Favorite Sounds › FavoriteSoundList (Effects › FavoriteEffectsList, Hashtags › FavoriteHashtagList) | Your Activity › same | Likes and Favorites › same |
//! | collections | —                                          | —                                    | Likes and Favorites › Favorite Collection › FavoriteCollectionList |
//! | off-tiktok | Ads and data › Off TikTok Activity › OffTikTokActivityDataList (`TimeStamp`, `Source`, `Event`) | same | Your Activity › same, and again under Profile And Settings |
//! | settings   | App Settings › Settings › SettingsMap (a map: one row per setting) | same          | Profile And Settings › Settings › SettingsMap |
//! | devices    | Activity › Status › Status List (`Resolution`, `App Version`, `IDFA`, `GAID`, `Android ID`, `IDFV`, `UID`, `DID`, `Web ID`) | Your Activity › Status › same | same as 2024 |
//! | activity-summary | —                                     | Your Activity › Activity Summary › ActivitySummaryMap (a map: one row per count) | same |
//! | location   | —                                           | Your Activity › Most Recent Location Data › LocationData (one row: `Date`, `GpsData`, `LastRegion`) | same |
//! | profile-views | —                                        | —                                    | Profile And Settings › ProfileViews › ProfileViewList |
//!
//! Sources: the 2020–2023 and 2024–2025 paths as read by public parsers of real exports
//! (RLEAPP's `tikTokArchiveJson.py`, which falls back from the new names to the old;
//! d3i data-donation TikTok scripts); the 2026 paths (`Likes and Favorites`, `Profile And
//! Settings › Follower › FansList`) from viewers and tests written against 2026 exports;
//! the ChatHistory map keyed `"Chat History with <user>:"` from DM viewers of both eras;
//! Status, Settings, Off TikTok Activity, Activity Summary, Most Recent Location Data and
//! ProfileViews from type definitions and schema notes written against real exports
//! (the 2026 export carries Off TikTok Activity twice; both copies are kept). Only the
//! name `Settings` itself is the settings section: `Go Live Settings` stays verbatim.
//! The section name alone identifies the section (it is matched under any category),
//! except the generic names `Comments`, `Videos`/`Posts` and `Direct Messages`/`Chat
//! History`, which count only under their own category.
//!
//! TXT: one `.txt` per section, named after the section (`Like List.txt`, `Browsing
//! History.txt` or `Watch History.txt`, `Follower.txt`, `Post.txt`, `Profile Info.txt`,
//! `Direct Messages.txt`, …), flat or in category folders (`Tiktok/Activity/…`), as listed
//! by the d3i data-donation flows.

use super::record::{norm, Section};

/// Which generation of export a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `user_data.json`, top level `Activity`, `Video`, `Profile`, `Direct Messages`, ….
    Json2020,
    /// Top level `Your Activity`, `Post`, `Profile`, `Direct Message`, ….
    Json2024,
    /// The ten-key layout: `Likes and Favorites`, `Profile And Settings`, ….
    Json2026,
    /// Folders of `.txt` files.
    Txt,
}

/// Guesses the JSON layout from its (normalised) top-level keys.
pub fn json_layout(top_keys: &[String]) -> Layout {
    let has = |k: &str| top_keys.iter().any(|t| t == k);
    if has("likesandfavorites") || has("profileandsettings") {
        Layout::Json2026
    } else if has("youractivity") || has("post") || has("directmessage") {
        Layout::Json2024
    } else {
        Layout::Json2020
    }
}

/// The section at `category › name` in a JSON export, if it is one we understand.
pub fn json_section(category: &str, name: &str) -> Option<Section> {
    let cat = norm(category);
    let sec = norm(name);
    let generic = match sec.as_str() {
        "comments" => (cat == "comment").then_some(Section::Comments),
        "videos" | "posts" => matches!(cat.as_str(), "video" | "post").then_some(Section::Posts),
        "chathistory" | "directmessages" => {
            matches!(cat.as_str(), "directmessage" | "directmessages").then_some(Section::Messages)
        }
        _ => None,
    };
    generic.or_else(|| by_name(&sec))
}

/// The section a TXT file holds, from its file name without `.txt`.
pub fn txt_section(stem: &str) -> Option<Section> {
    let sec = norm(stem);
    match sec.as_str() {
        "comments" => Some(Section::Comments),
        "post" | "posts" | "videos" | "video" => Some(Section::Posts),
        "directmessages" | "chathistory" => Some(Section::Messages),
        _ => by_name(&sec),
    }
}

fn by_name(sec: &str) -> Option<Section> {
    Some(match sec {
        "profileinformation" | "profileinfo" => Section::Profile,
        "likelist" => Section::Likes,
        "favoritevideos" => Section::Favorites,
        "followerlist" | "follower" => Section::Followers,
        "followinglist" | "following" => Section::Following,
        "videobrowsinghistory" | "watchhistory" | "browsinghistory" => Section::WatchHistory,
        "searchhistory" | "searches" => Section::Searches,
        "loginhistory" => Section::Logins,
        "sharehistory" => Section::Shares,
        "reposts" | "repost" => Section::Reposts,
        "blocklist" | "block" => Section::Blocked,
        "favoritesounds" | "favoritesound" => Section::Sounds,
        "favoriteeffects" | "favoriteeffect" => Section::Effects,
        "favoritehashtags" | "favoritehashtag" => Section::Hashtags,
        "favoritecollection" | "favoritecollections" => Section::Collections,
        "offtiktokactivity" => Section::OffTikTok,
        "settings" => Section::Settings,
        "status" => Section::Devices,
        "activitysummary" => Section::Summary,
        "mostrecentlocationdata" => Section::Location,
        "profileviews" | "profileview" => Section::ProfileViews,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_year_maps_to_the_same_sections() {
        assert_eq!(
            json_section("Activity", "Video Browsing History"),
            Some(Section::WatchHistory)
        );
        assert_eq!(
            json_section("Your Activity", "Watch History"),
            Some(Section::WatchHistory)
        );
        assert_eq!(
            json_section("Likes and Favorites", "Like List"),
            Some(Section::Likes)
        );
        assert_eq!(
            json_section("Profile And Settings", "Follower"),
            Some(Section::Followers)
        );
        assert_eq!(json_section("Video", "Videos"), Some(Section::Posts));
        assert_eq!(
            json_section("Direct Message", "Direct Messages"),
            Some(Section::Messages)
        );
        assert_eq!(json_section("Tiktok Live", "Comments"), None);
        assert_eq!(
            json_section("Ads and data", "Off TikTok Activity"),
            Some(Section::OffTikTok)
        );
        assert_eq!(
            json_section("App Settings", "Settings"),
            Some(Section::Settings)
        );
        assert_eq!(json_section("TikTok Live", "Go Live Settings"), None);
        assert_eq!(
            json_section("Your Activity", "Status"),
            Some(Section::Devices)
        );
        assert_eq!(txt_section("Off TikTok Activity"), Some(Section::OffTikTok));
        assert_eq!(txt_section("Browsing History"), Some(Section::WatchHistory));
        assert_eq!(txt_section("Post"), Some(Section::Posts));
    }

    #[test]
    fn layouts_are_told_apart_by_their_top_keys() {
        let keys = |ks: &[&str]| ks.iter().map(|k| norm(k)).collect::<Vec<_>>();
        assert_eq!(json_layout(&keys(&["Activity", "Video"])), Layout::Json2020);
        assert_eq!(
            json_layout(&keys(&["Your Activity", "Post"])),
            Layout::Json2024
        );
        assert_eq!(
            json_layout(&keys(&["Your Activity", "Likes and Favorites"])),
            Layout::Json2026
        );
    }
}
