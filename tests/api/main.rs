//! Integration tests: the real server on port 0, real SQLite in a temp dir,
//! spoken to over HTTP.

mod auth;
mod blobstore;
mod catchup;
mod chats;
mod cluster;
mod crash;
mod errors;
mod fuzz;
mod group_admin;
mod groups;
mod hardening;
mod helpers;
mod history;
mod logins;
mod messages;
mod migrate;
mod migrations;
mod openapi;
mod operator;
mod outage;
mod process;
mod properties;
mod realtime;
mod required;
mod s3;
mod search;
mod sessions;
mod socket;
mod storage;
mod two_nodes;
mod two_nodes_catchup;
mod uploads;
mod users;
mod wal;
