fn main() {
    let src = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let (f, e) = sharegrad_grammar::parse(&src);
    for i in &f.items { println!("{i:?}"); }
    for x in &e { println!("ERR {:?} {:?} {}", x.span, &src[x.span.start..x.span.end], x.message); }
}
