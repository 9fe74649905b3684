tokenauth::keyword!(pub ApiKey = "Api Key");

fn main() {}
