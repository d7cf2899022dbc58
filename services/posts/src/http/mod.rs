//! HTTP handlers of the posts service.

pub mod listings;
pub mod posts;
pub mod search;
pub mod tags;

use rookery_kernel::ApiResult;
use rookery_kernel::time::rfc3339;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::Post;

/// A comma-separated list of 1..=100 post ids from the query parameter
/// `field` (see [`rookery_kernel::extract::id_list`]).
pub(crate) fn parse_id_list(field: &str, raw: &str) -> ApiResult<Vec<i64>> {
    rookery_kernel::extract::id_list(field, raw)
}

/// `found` (in any order) arranged in the order of `ids`; ids without a
/// post are left out.
pub(crate) fn in_order(ids: &[i64], found: Vec<Post>) -> Vec<Post> {
    let mut by_id: std::collections::HashMap<i64, Post> =
        found.into_iter().map(|p| (p.id, p)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// `{"id", "url"}` of the reposted original.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepostRef {
    pub id: String,
    #[schema(example = "/api/v1/posts/7214859302147")]
    pub url: String,
}

/// A post. In lists, community posts (those with a title) omit `text` and `url`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostView {
    #[schema(example = "7214859302147")]
    pub id: String,
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub text: Option<Option<String>>,
    pub title: Option<String>,
    pub community: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub in_reply_to: Option<String>,
    pub repost_of: Option<RepostRef>,
    pub reply_count: i64,
    pub repost_count: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    pub score: i64,
    /// Each `#word` of the title and text, lowercased, in order of appearance.
    #[schema(example = json!(["rust"]))]
    pub tags: Vec<String>,
    /// The existing accounts the text `@mentions`, as each spells its name.
    #[schema(example = json!(["alice"]))]
    pub mentions: Vec<String>,
}

impl PostView {
    pub fn full(post: Post) -> Self {
        Self {
            id: post.id.to_string(),
            author: post.author,
            text: Some(post.text),
            title: post.title,
            community: post.community,
            url: Some(post.url),
            created_at: rfc3339(post.created_at),
            edited_at: post.edited_at.map(rfc3339),
            in_reply_to: post.in_reply_to.map(|i| i.to_string()),
            repost_of: post.repost_of.map(|i| RepostRef {
                id: i.to_string(),
                url: format!("/api/v1/posts/{i}"),
            }),
            reply_count: post.reply_count,
            repost_count: post.repost_count,
            upvotes: post.upvotes,
            downvotes: post.downvotes,
            score: post.score,
            tags: post.tags.0,
            mentions: post.mentions.0.into_iter().map(|m| m.username).collect(),
        }
    }

    /// The list item: community posts leave out `text` and `url`.
    pub fn list_item(post: Post) -> Self {
        let community_post = post.title.is_some();
        let mut view = Self::full(post);
        if community_post {
            view.text = None;
            view.url = None;
        }
        view
    }
}

/// A page of posts (documentation shape).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PostPage {
    pub items: Vec<PostView>,
    pub next_cursor: Option<String>,
}
