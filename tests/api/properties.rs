//! Property tests for the parsers and validators: they never panic, accept
//! exactly what the contract allows, and round-trip.

use chat_server::blobs::sniff;
use chat_server::credentials::FileSigner;
use chat_server::domain::{ChatTarget, FileName, HistoryPage, PageQuery, TargetFields, Timestamp, Username};
use proptest::prelude::*;

fn is_username(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

proptest! {
    #[test]
    fn usernames_are_exactly_the_allowed_ones(s in "\\PC{0,40}") {
        prop_assert_eq!(Username::parse(s.clone()).is_ok(), is_username(&s));
    }

    #[test]
    fn valid_usernames_are_accepted(s in "[A-Za-z0-9_.-]{3,32}") {
        prop_assert!(Username::parse(s).is_ok());
    }

    #[test]
    fn cursors_parse_or_refuse_without_panicking(
        before in proptest::option::of("\\PC{0,24}"),
        after in proptest::option::of("\\PC{0,24}"),
        limit in proptest::option::of("\\PC{0,8}"),
    ) {
        let q = PageQuery { limit: limit.clone(), before: before.clone(), after: after.clone() };
        if let Ok(page) = HistoryPage::parse(&q) {
            let (cursor, limit) = match page {
                HistoryPage::Latest { limit } => (None, limit),
                HistoryPage::Before { id, limit } | HistoryPage::After { id, limit } => (Some(id), limit),
            };
            prop_assert!((1..=200).contains(&limit));
            prop_assert!(cursor.is_none_or(|id| id >= 1));
        }
    }

    #[test]
    fn numeric_cursors_round_trip(id in 1i64..=999_999_999_999_999_999, limit in 1u32..=200) {
        let q = PageQuery { limit: Some(limit.to_string()), before: Some(id.to_string()), after: None };
        prop_assert_eq!(HistoryPage::parse(&q).unwrap(), HistoryPage::Before { id, limit });
        let both = PageQuery { limit: None, before: Some(id.to_string()), after: Some(id.to_string()) };
        prop_assert!(HistoryPage::parse(&both).is_err());
    }

    #[test]
    fn a_target_is_exactly_one_positive_id(
        to in proptest::option::of(any::<i64>()),
        chat_id in proptest::option::of(any::<i64>()),
        group_id in proptest::option::of(any::<i64>()),
    ) {
        let given: Vec<i64> = [to, chat_id, group_id].into_iter().flatten().collect();
        let parsed = ChatTarget::parse(&TargetFields { to, chat_id, group_id });
        prop_assert_eq!(parsed.is_ok(), given.len() == 1 && given[0] >= 1);
    }

    #[test]
    fn only_the_three_signatures_are_accepted(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let expected = if bytes.starts_with(b"%PDF-") {
            Some("application/pdf")
        } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some("image/png")
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some("image/jpeg")
        } else {
            None
        };
        prop_assert_eq!(sniff(&bytes), expected);
    }

    #[test]
    fn signed_prefixes_are_accepted_whatever_follows(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        for (magic, ct) in [(&b"%PDF-"[..], "application/pdf"), (&[0xFF, 0xD8, 0xFF][..], "image/jpeg")] {
            let mut bytes = magic.to_vec();
            bytes.extend(&tail);
            prop_assert_eq!(sniff(&bytes), Some(ct));
        }
    }

    #[test]
    fn cleaned_file_names_are_never_paths(raw in "\\PC{0,300}|[./\\\\a-z\\x00-\\x1f]{0,40}") {
        let name = FileName::clean(Some(&raw));
        let s = name.as_str();
        prop_assert!(!s.is_empty() && s != "." && s != "..");
        prop_assert!(!s.contains('/') && !s.contains('\\'));
        prop_assert!(!s.chars().any(char::is_control));
        prop_assert!(s.chars().count() <= FileName::MAX_CHARS);
    }

    #[test]
    fn signed_urls_verify_and_tampering_fails(id in 1i64..1_000_000_000, user in 1i64..1_000_000, name in "\\PC{1,40}", flip in 0usize..43) {
        let signer = FileSigner::new(b"a server secret", std::time::Duration::from_secs(3600));
        let url = signer.url(id, &name, user);
        let query = url.split_once('?').unwrap().1;
        let u = query.split('&').find_map(|p| p.strip_prefix("u=")).unwrap();
        let exp = query.split('&').find_map(|p| p.strip_prefix("exp=")).unwrap();
        let sig = query.split('&').find_map(|p| p.strip_prefix("sig=")).unwrap();
        prop_assert_eq!(signer.verify(id, Some(u), Some(exp), Some(sig)), Some(user));
        prop_assert_eq!(signer.verify(id + 1, Some(u), Some(exp), Some(sig)), None);
        let other = (user + 1).to_string();
        prop_assert_eq!(signer.verify(id, Some(&other), Some(exp), Some(sig)), None);
        let mut tampered: Vec<char> = sig.chars().collect();
        let i = flip % tampered.len();
        tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        prop_assert_eq!(signer.verify(id, Some(u), Some(exp), Some(&tampered)), None);
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds(ms in -62_135_596_800_000i64..253_402_300_799_999) {
        let text = Timestamp(ms).to_rfc3339();
        prop_assert_eq!(text.len(), 24);
        let parsed = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap();
        prop_assert_eq!(parsed.unix_timestamp_nanos() / 1_000_000, i128::from(ms));
    }
}
