{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "29dc22d91c81af0cef5718822badd6e0c09f98f2c9349ff9fa15b7c559e1acc0",
 "model_sha256": "e1790ee20fcc1af9293c007223de1a6ead452a2c7f7aa88b74a7fc6c68118a82",
 "files": {
  "ref-fp32.f32": "b1f15d00b3448bec07d8d6db96fa8b62edda1889ef5a3eed555f847dbb1afe42",
  "ref-input.f32": "b1681fb9cae505c261ce42c1d1484ac678c3d070b84c004df2846b83a30147eb"
 },
 "signature": "gAinIou9rZLGMBlf8L+o33MobiolG7oDiTc2+yurpBOYroP9GPdUKiZjjxlOF4pPdwHOXx1tcQ0oDi2+hSECDA=="
}
