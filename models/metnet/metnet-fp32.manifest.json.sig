{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "9da06c7d753dd834b6a280f8bbed466bbe8cfb7f40ac49e68cc5f3eee25eb21c",
 "model_sha256": "a6634b33b8cff27f4c858619f0429f2d965a661c85313e93310bd9f89ea46b44",
 "files": {
  "ref-fp32.f32": "e935a8a3e8979ef9103bbbb210d6261fd7d56a7f01995a56235edfe6729fa2bb",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "4f/gX7PvcG0nogJtCtXQnfSYpKv050akn3s8/Um951z+NMmR9SfEduvw+fL8pL5AAviHQOD0cbEz6LdCQjF7Dg=="
}
