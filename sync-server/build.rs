//! Rebuilds the server when a catalogue of the pages is added or changed:
//! `fluent-templates` embeds the `.ftl` files it finds under `locales/` at
//! build time, and a new file is not otherwise noticed.

fn main() {
    println!("cargo:rerun-if-changed=locales");
}
