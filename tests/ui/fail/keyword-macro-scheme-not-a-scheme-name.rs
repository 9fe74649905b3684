tokenauth::keyword!(pub Bang = "Key!", scheme = "Key!Auth");

fn main() {}
