//! The storage layer's own settings, read back through its reader threads.

use chat_server::store::sqlite::{Db, SqliteOptions, SyncMode};

async fn reader_mmap_size(reader_mmap_bytes: u64) -> i64 {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let options = SqliteOptions {
        reader_mmap_bytes,
        ..SqliteOptions::new(SyncMode::Normal)
    };
    let db = Db::open(&dir.path().join("chat.db"), options).expect("open");
    db.read(|conn| Ok(conn.pragma_query_value(None, "mmap_size", |r| r.get::<_, i64>(0))?))
        .await
        .expect("read")
}

#[tokio::test]
async fn readers_map_as_much_of_the_file_as_configured() {
    assert_eq!(reader_mmap_size(8 << 20).await, 8 << 20);
    assert_eq!(reader_mmap_size(0).await, 0, "0 turns mapping off");
}
