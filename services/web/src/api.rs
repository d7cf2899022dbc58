//! The public API as the web client reads it: the shared client and its
//! answers ([`rookery_gateway::client`]).

pub use rookery_gateway::client::views::{
    Count, Message, Notification, Page, Poll, PollOption, Post, RepostOf, SearchResults, TagCount,
    Tally, Token, User,
};
pub use rookery_gateway::client::{Api, ApiFailure, ApiResult, Caller, enc};

/// `GET /api/v1/relationships`.
pub type RelationshipList =
    rookery_gateway::client::views::Items<rookery_gateway::client::views::Relationship>;
