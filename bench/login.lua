-- A staff sign-in with the right password: every request costs one argon2id hash.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@ville-sevres.fr","password":"a long passphrase for load tests"}'
