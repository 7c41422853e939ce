//! The store records its format: a data directory written by a newer espm is refused
//! with a message that says so, before anything in it is read or changed. Real `espm`
//! processes on a real sled store.

#[path = "support/mod.rs"]
mod support;

use support::*;

#[test]
fn a_data_directory_from_a_newer_espm_is_refused_saying_so() {
    let hub = start_hub();
    let satker = satker(&hub);
    drop(hub);
    {
        // What a newer espm would leave: a format this build does not know.
        let store = storage::Store::open(satker.dir()).expect("open the store");
        store
            .write(|t| {
                t.put(storage::Table::Meta, "format", &(storage::FORMAT + 1));
                Ok(())
            })
            .expect("write");
        store.flush().expect("flush");
    }
    let err = satker.fail(&["id"]);
    assert!(
        err.contains("written by a newer espm")
            && err.contains(&format!("format {}", storage::FORMAT + 1))
            && err.contains("Install the newer espm"),
        "{err}"
    );
    assert_plain_error(&err, "id on a newer store");
}
