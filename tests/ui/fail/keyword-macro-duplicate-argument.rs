tokenauth::keyword!(pub Bang = "Key!", scheme = "BangAuth", scheme = "KeyAuth");

fn main() {}
