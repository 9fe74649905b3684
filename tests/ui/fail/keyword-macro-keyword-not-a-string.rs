tokenauth::keyword!(pub ApiKey = Bearer);

fn main() {}
