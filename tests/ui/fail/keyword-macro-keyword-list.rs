tokenauth::keyword!(pub Either = ["Token", "Bearer"]);

fn main() {}
