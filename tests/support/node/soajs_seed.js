// Seeds a SOAJS provisioning database and mints a tenant's external key with soajs.core.modules' own
// helpers (the ones the gateway verifies keys with), for tests/support/soajs_gateway.py.
//   node soajs_seed.js <absolute path of a node_modules folder holding soajs.core.modules>
// Reads one JSON object on standard input:
//   {"profile": {...}, "collections": {"name": [doc, ...]}, "key": {"tenant": i, "app": j, "key": k,
//    "env": "DEV", "algorithm": "aes256", "password": "..."}}
// `_id` fields (24 hex) become ObjectIds; "clear": ["collection", ...] empties collections first. The external key is minted for tenants[i].applications[j]
// .keys[k] and appended to its extKeys before the documents are written. Prints `{"extKey": "..."}`.
"use strict";
const path = require("path");

const modules = require(path.join(process.argv[2], "soajs.core.modules"));

function readStdin() {
    return new Promise((resolve, reject) => {
        let data = "";
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", (chunk) => { data += chunk; });
        process.stdin.on("end", () => resolve(data));
        process.stdin.on("error", reject);
    });
}

function mint(iKey, tenantId, packageCode, config) {
    return new Promise((resolve, reject) => {
        modules.core.key.generateExternalKey(iKey, { id: tenantId }, { package: packageCode }, config,
            (err, extKey) => (err ? reject(err) : resolve(extKey)));
    });
}

async function main() {
    const input = JSON.parse(await readStdin());
    const mongo = new modules.mongo(input.profile);
    const toIds = (doc) => {
        if (typeof doc._id === "string") doc._id = mongo.ObjectId(doc._id);
        return doc;
    };
    for (const collection of input.clear || []) {
        await mongo.deleteMany(collection, {});
    }
    let extKey = null;
    if (input.key) {
        const spec = input.key;
        const tenant = input.collections.tenants[spec.tenant];
        const application = tenant.applications[spec.app];
        const key = application.keys[spec.key];
        extKey = await mint(key.key, tenant._id, application.package,
            { algorithm: spec.algorithm, password: spec.password });
        key.extKeys = key.extKeys || [];
        key.extKeys.push({ extKey, device: null, geo: null, env: spec.env, dashboardAccess: false,
            expDate: null });
    }
    for (const [collection, docs] of Object.entries(input.collections || {})) {
        for (const doc of docs) {
            await mongo.insertOne(collection, toIds(doc), {});
        }
    }
    await mongo.closeDb();
    process.stdout.write(JSON.stringify({ extKey }) + "\n");
}

main().then(() => process.exit(0), (err) => {
    process.stderr.write(String(err && err.stack || err) + "\n");
    process.exit(1);
});
