// IndexedDB: the outbox of check-ins not yet on the server, and the last profile and due list
// (so the app opens and a check-in can be answered without a connection). The page and the
// service worker both open it through this module.
const DB_NAME = "checkin";
const DB_VERSION = 1;
let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

async function run(storeName, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeName, mode);
    const request = work(tx.objectStore(storeName));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const outbox = {
  all: () => run("outbox", "readonly", (store) => store.getAll()),
  put: (entry) => run("outbox", "readwrite", (store) => store.put(entry)),
  remove: (id) => run("outbox", "readwrite", (store) => store.delete(id)),
};

export const kv = {
  get: (key) => run("kv", "readonly", (store) => store.get(key)),
  set: (key, value) => run("kv", "readwrite", (store) => store.put(value, key)),
  remove: (key) => run("kv", "readwrite", (store) => store.delete(key)),
};
