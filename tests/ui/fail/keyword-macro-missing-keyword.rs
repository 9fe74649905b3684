tokenauth::keyword!(pub ApiKey);

fn main() {}
