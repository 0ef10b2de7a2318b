//! Snapshots of `check` summaries: tensors with ranges, statements,
//! occurrences with multiplicities, and the simplified adjoint equations,
//! for every example and every PyTorch fixture model. Reviewed by hand when
//! they change; CI never writes them (CI=true).

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

fn summary(path: &std::path::Path) -> String {
    let src = std::fs::read_to_string(path).unwrap();
    let model =
        sharegrad_core::compile(&src).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
    sharegrad_core::report::check_summary(&model)
}

#[test]
fn check_summaries_of_examples() {
    settings().bind(|| {
        insta::glob!("../../examples", "*.eq", |path| {
            insta::assert_snapshot!("check", summary(path));
        });
    });
}

#[test]
fn check_summaries_of_fixtures() {
    settings().bind(|| {
        insta::glob!("../../tests/fixtures", "*/model.eq", |path| {
            insta::assert_snapshot!("check", summary(path));
        });
    });
}
