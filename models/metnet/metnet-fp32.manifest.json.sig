{
 "format": "metsentry-model-sig-v1",
 "key_id": "f67d9cab91bfb629",
 "manifest_sha256": "90b4e389789598fdc8d9af9a0fb1d669589534ebb5eb58592f96fb1603805331",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "oGvQ9ZHfEaAPbejCAHvM2fMoyy5AbFln46FDqUOCpXra4QKHSexJ0KW1LdJA0HeTbjNn75PqKqTPyKA+D8YrAw=="
}
