tokenauth::keyword!(pub Bang = "Key!");

fn main() {}
