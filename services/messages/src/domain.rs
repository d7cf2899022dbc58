//! Validated values of the messages service: every string is trimmed first.

use rookery_kernel::ApiError;

use crate::store::MessageBox;

/// Characters a message's text may have.
pub const TEXT_MAX: usize = 2000;
/// Quick replies a message may offer.
pub const QUICK_REPLIES_MAX: usize = 5;
/// Characters a quick reply may have.
pub const QUICK_REPLY_MAX: usize = 100;

/// `raw` trimmed, when it has 1..=`max` characters.
fn trimmed_text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(text.to_string())
}

/// A message's text: 1..=2000 characters.
pub fn parse_text(raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid("text", "text is required"))?;
    trimmed_text("text", raw, TEXT_MAX)
}

/// The quick replies a sender offers: at most 5, each 1..=100 characters.
pub fn parse_quick_replies(raw: Option<&[String]>) -> Result<Vec<String>, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > QUICK_REPLIES_MAX {
        return Err(ApiError::invalid(
            "quick_replies",
            format!("at most {QUICK_REPLIES_MAX} quick replies"),
        ));
    }
    raw.iter()
        .map(|r| {
            trimmed_text("quick_replies", r, QUICK_REPLY_MAX).map_err(|_| {
                ApiError::invalid(
                    "quick_replies",
                    format!("each quick reply must be 1 to {QUICK_REPLY_MAX} characters"),
                )
            })
        })
        .collect()
}

/// The recipient's username as given (trimmed); sending to oneself is refused.
pub fn parse_recipient(raw: Option<&str>, sender: &str) -> Result<String, ApiError> {
    let to = raw.map(str::trim).unwrap_or_default();
    if to.is_empty() {
        return Err(ApiError::invalid("to", "to (a username) is required"));
    }
    if to.eq_ignore_ascii_case(sender) {
        return Err(ApiError::invalid(
            "to",
            "you cannot send a message to yourself",
        ));
    }
    Ok(to.to_string())
}

/// `box` of a listing: `inbox` (default), `sent` or `all`.
pub fn parse_box(raw: Option<&str>) -> Result<MessageBox, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("inbox") => Ok(MessageBox::Inbox),
        Some("sent") => Ok(MessageBox::Sent),
        Some("all") => Ok(MessageBox::All),
        Some(_) => Err(ApiError::invalid("box", "box must be inbox, sent or all")),
    }
}

/// `favorite` of a listing: `true` lists favorites only; `false` (default) everything.
pub fn parse_favorite(raw: Option<&str>) -> Result<bool, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid(
            "favorite",
            "favorite must be true or false",
        )),
    }
}

/// The text of answer `index` among a message's quick replies.
pub fn quick_reply(offered: &[String], index: i64) -> Result<String, ApiError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| offered.get(i))
        .cloned()
        .ok_or_else(|| {
            let message = match offered.len() {
                0 => "this message offers no quick replies".to_string(),
                n => format!("quick_reply must be an index from 0 to {}", n - 1),
            };
            ApiError::invalid("quick_reply", message)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(parse_text(Some("  hi \n")).unwrap(), "hi");
        assert!(parse_text(Some("   ")).is_err());
        assert!(parse_text(None).is_err());
        assert!(parse_text(Some(&"é".repeat(2000))).is_ok());
        assert!(parse_text(Some(&"é".repeat(2001))).is_err());
    }

    #[test]
    fn quick_replies_bounds() {
        let five: Vec<String> = (0..5).map(|i| format!(" r{i} ")).collect();
        assert_eq!(parse_quick_replies(Some(&five)).unwrap()[0], "r0");
        let six: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        assert!(parse_quick_replies(Some(&six)).is_err());
        assert!(parse_quick_replies(Some(&[" ".into()])).is_err());
        assert!(parse_quick_replies(Some(&["x".repeat(101)])).is_err());
        assert!(parse_quick_replies(None).unwrap().is_empty());
        assert_eq!(quick_reply(&five[..2], 1).unwrap(), " r1 ");
        for bad in [-1, 2, i64::MAX] {
            assert!(quick_reply(&five[..2], bad).is_err());
        }
        assert!(quick_reply(&[], 0).is_err());
    }

    #[test]
    fn recipients_and_list_params() {
        assert_eq!(parse_recipient(Some(" bob "), "alice").unwrap(), "bob");
        assert!(parse_recipient(Some("ALICE"), "alice").is_err());
        assert!(parse_recipient(Some(""), "alice").is_err());
        assert_eq!(parse_box(None).unwrap(), MessageBox::Inbox);
        assert_eq!(parse_box(Some("sent")).unwrap(), MessageBox::Sent);
        assert!(parse_box(Some("trash")).is_err());
        assert!(parse_favorite(Some("true")).unwrap());
        assert!(parse_favorite(Some("yes")).is_err());
    }
}
