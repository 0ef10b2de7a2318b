#[test]
fn debug_raw() {
    use pest::Parser;
    let r = crate::parser::EqParser::parse(crate::parser::Rule::statement_file, "\\begin{aligned}x=a\\end{aligned}");
    println!("{r:?}");
}
