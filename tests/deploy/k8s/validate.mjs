// Validates Kubernetes manifests offline, as closely to what an API server
// would accept as these machines allow (docs/deployment.md explains the
// choice). For each YAML file:
//
// 1. YAML: parsed with `yaml` (YAML 1.2, strict: duplicate keys and any
//    warning are errors), exactly one document.
// 2. Schema: the object is validated with kubernetes-models, whose
//    validators are compiled (ajv) from Kubernetes' own OpenAPI definitions
//    (Kubernetes 1.34 for kubernetes-models 5.1.0): types, required fields,
//    int32/int64, quantities, int-or-string.
// 3. Unknown fields: those validators, like the OpenAPI schema, let unknown
//    fields through, but `kubectl apply` (server-side strict field
//    validation) rejects them. So each object is also type-checked by the
//    TypeScript compiler against kubernetes-models' interfaces (generated
//    from the same OpenAPI definitions): an unknown or misspelt field, a
//    missing required field or a wrong type is a compile error.
// 4. What the API server checks beyond the schema, for the fields Pier
//    writes: names (DNS rules), label and annotation syntax, port names,
//    selectors that match the pod labels, references between the objects.
//
// KServe's InferenceService has no schema here: its predictor's pod fields
// are checked against core/v1 PodSpec (2, 3), and KServe's own fields
// against a TypeScript type written from KServe's v1beta1 API reference.
//
// Usage: node validate.mjs [--json] FILE...   (--json prints the parsed objects)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import ts from "typescript";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Service } from "kubernetes-models/v1/Service";
import { Secret } from "kubernetes-models/v1/Secret";
import { PodSpec } from "kubernetes-models/v1/PodSpec";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";

const here = dirname(fileURLToPath(import.meta.url));

const KINDS = {
  "apps/v1 Deployment": { cls: Deployment, type: 'import("kubernetes-models/apps/v1/Deployment").IDeployment' },
  "v1 Service": { cls: Service, type: 'import("kubernetes-models/v1/Service").IService' },
  "v1 Secret": { cls: Secret, type: 'import("kubernetes-models/v1/Secret").ISecret' },
  "autoscaling/v2 HorizontalPodAutoscaler": {
    cls: HorizontalPodAutoscaler,
    type: 'import("kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler").IHorizontalPodAutoscaler',
  },
  "serving.kserve.io/v1beta1 InferenceService": { cls: null, type: "InferenceService" },
};

// KServe v1beta1: PredictorSpec inlines core/v1 PodSpec and
// ComponentExtensionSpec (fields as in KServe's API reference).
const KSERVE_TYPES = `
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
interface ComponentExtensionSpec {
  minReplicas?: number; maxReplicas?: number; scaleTarget?: number;
  scaleMetric?: "cpu" | "memory" | "concurrency" | "rps";
  containerConcurrency?: number; timeout?: number; canaryTrafficPercent?: number;
  logger?: { url?: string; mode?: "all" | "request" | "response" };
  batcher?: { maxBatchSize?: number; maxLatency?: number; timeout?: number };
  labels?: { [key: string]: string }; annotations?: { [key: string]: string };
}
type PredictorSpec = Omit<IPodSpec, "containers"> & { containers?: IPodSpec["containers"] } & ComponentExtensionSpec;
export interface InferenceService {
  apiVersion: "serving.kserve.io/v1beta1"; kind: "InferenceService"; metadata: IObjectMeta;
  spec: { predictor: PredictorSpec };
}
`;
const KSERVE_EXTENSION = ["minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "containerConcurrency", "timeout",
  "canaryTrafficPercent", "logger", "batcher", "labels", "annotations"];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function qualifiedKey(k) {
  const i = k.lastIndexOf("/");
  const prefix = i < 0 ? "" : k.slice(0, i);
  const name = i < 0 ? k : k.slice(i + 1);
  return name.length <= 63 && QUALIFIED_NAME.test(name) && (!prefix || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
}

function semantic(obj, kind, errs) {
  const md = obj.metadata || {};
  const nameRule = kind === "v1 Service" ? DNS_1035 : DNS_SUBDOMAIN;
  if (!md.name || md.name.length > (kind === "v1 Service" ? 63 : 253) || !nameRule.test(md.name))
    errs.push(`metadata.name ${JSON.stringify(md.name)} is not a valid ${kind.split(" ")[1]} name`);
  if (md.namespace && !(DNS_LABEL.test(md.namespace) && md.namespace.length <= 63)) errs.push("metadata.namespace is not a DNS label");
  const checkLabels = (where, labels) => {
    for (const [k, v] of Object.entries(labels || {})) {
      if (!qualifiedKey(k)) errs.push(`${where}: label key ${JSON.stringify(k)} is invalid`);
      if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v)) errs.push(`${where}: label value ${JSON.stringify(v)} is invalid`);
    }
  };
  const checkAnnotations = (where, a) => {
    let size = 0;
    for (const [k, v] of Object.entries(a || {})) {
      if (!qualifiedKey(k)) errs.push(`${where}: annotation key ${JSON.stringify(k)} is invalid`);
      size += k.length + String(v).length;
    }
    if (size > 256 * 1024) errs.push(`${where}: annotations are over 256 KiB`);
  };
  checkLabels("metadata.labels", md.labels);
  checkAnnotations("metadata.annotations", md.annotations);
  const checkPod = (where, spec, podLabels) => {
    for (const c of spec.containers || []) {
      if (!DNS_LABEL.test(c.name || "")) errs.push(`${where}: container name ${JSON.stringify(c.name)} is not a DNS label`);
      const names = new Set();
      for (const p of c.ports || []) {
        if (p.name !== undefined) {
          if (p.name.length > 15 || !PORT_NAME.test(p.name) || !/[a-z]/.test(p.name) || p.name.includes("--"))
            errs.push(`${where}: port name ${JSON.stringify(p.name)} is not an IANA service name`);
          names.add(p.name);
        }
        if (!(p.containerPort >= 1 && p.containerPort <= 65535)) errs.push(`${where}: containerPort out of range`);
      }
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const port = c[probe]?.httpGet?.port;
        if (typeof port === "string" && !names.has(port)) errs.push(`${where}: ${probe} uses an unknown port name ${port}`);
      }
    }
    if (podLabels) checkLabels(`${where} labels`, podLabels);
  };
  if (kind === "apps/v1 Deployment") {
    const t = obj.spec.template;
    checkPod("spec.template.spec", t.spec, t.metadata?.labels);
    checkAnnotations("spec.template.metadata.annotations", t.metadata?.annotations);
    for (const [k, v] of Object.entries(obj.spec.selector.matchLabels || {}))
      if ((t.metadata?.labels || {})[k] !== v) errs.push(`spec.selector does not match the template's labels (${k})`);
  }
  if (kind === "serving.kserve.io/v1beta1 InferenceService") {
    const p = obj.spec.predictor;
    checkPod("spec.predictor", p);
    if (!(p.containers || []).some((c) => c.name === "kserve-container"))
      errs.push("spec.predictor: KServe needs the custom container to be called kserve-container");
    if (p.minReplicas > p.maxReplicas) errs.push("spec.predictor: minReplicas > maxReplicas");
  }
  if (kind === "autoscaling/v2 HorizontalPodAutoscaler" && (obj.spec.minReplicas ?? 1) > obj.spec.maxReplicas)
    errs.push("spec.minReplicas > spec.maxReplicas");
  if (kind === "v1 Secret") for (const k of Object.keys({ ...obj.data, ...obj.stringData }))
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) errs.push(`secret key ${JSON.stringify(k)} is invalid`);
}

// Cross-object references: the Service and HPA point at the Deployment, the
// container's secretKeyRef at the Secret.
function references(objs, errs) {
  const by = (k) => objs.filter((o) => o.key === k).map((o) => o.obj);
  const deps = by("apps/v1 Deployment"), secrets = by("v1 Secret");
  for (const s of by("v1 Service")) {
    const ok = deps.some((d) => Object.entries(s.spec.selector || {}).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
    if (deps.length && !ok) errs.push(`Service ${s.metadata.name}: its selector matches no Deployment's pods`);
    for (const p of s.spec.ports || [])
      if (typeof p.targetPort === "string" && deps.length &&
          !deps.some((d) => d.spec.template.spec.containers.some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort))))
        errs.push(`Service ${s.metadata.name}: targetPort ${p.targetPort} names no container port`);
  }
  for (const h of by("autoscaling/v2 HorizontalPodAutoscaler")) {
    const r = h.spec.scaleTargetRef;
    if (deps.length && !deps.some((d) => r.kind === "Deployment" && r.apiVersion === "apps/v1" && r.name === d.metadata.name))
      errs.push(`HorizontalPodAutoscaler ${h.metadata.name}: scaleTargetRef names no Deployment`);
    for (const d of deps) if (r.name === d.metadata.name && h.spec.metrics?.some((m) => m.resource?.name === "cpu") &&
        !d.spec.template.spec.containers.every((c) => c.resources?.requests?.cpu))
      errs.push("a CPU utilization target needs a CPU request on every container");
  }
  for (const o of objs) {
    const pods = o.key === "apps/v1 Deployment" ? [o.obj.spec.template.spec] : o.key.endsWith("InferenceService") ? [o.obj.spec.predictor] : [];
    for (const pod of pods) for (const c of pod.containers || []) for (const e of c.env || []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const s = secrets.find((x) => x.metadata.name === ref.name);
      if (!s) errs.push(`${o.file}: env ${e.name} refers to a Secret ${ref.name} that is not written`);
      else if (!(ref.key in { ...s.data, ...s.stringData })) errs.push(`${o.file}: Secret ${ref.name} has no key ${ref.key}`);
    }
  }
}

const args = process.argv.slice(2);
const asJson = args[0] === "--json";
const files = asJson ? args.slice(1) : args;
let failed = false;
const objs = [];
const fail = (file, msg) => {
  failed = true;
  console.error(`${file}: ${msg}`);
};

for (const file of files) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { strict: true, uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs) || docs.length !== 1) {
    fail(file, "expected exactly one YAML document");
    continue;
  }
  const doc = docs[0];
  if (doc.errors.length || doc.warnings.length) {
    for (const e of [...doc.errors, ...doc.warnings]) fail(file, `YAML: ${e.message}`);
    continue;
  }
  const obj = doc.toJS();
  const key = `${obj?.apiVersion} ${obj?.kind}`;
  const spec = KINDS[key];
  if (!spec) {
    fail(file, `unknown apiVersion/kind ${key}`);
    continue;
  }
  try {
    if (spec.cls) {
      new spec.cls(obj).validate();
    } else {
      new ObjectMeta(obj.metadata).validate();
      const pod = Object.fromEntries(Object.entries(obj.spec.predictor).filter(([k]) => !KSERVE_EXTENSION.includes(k)));
      new PodSpec(pod).validate();
    }
  } catch (e) {
    fail(file, `schema: ${e.message}`);
  }
  const errs = [];
  semantic(obj, key, errs);
  for (const e of errs) fail(file, e);
  objs.push({ file, key, obj, type: spec.type });
}
{
  const errs = [];
  references(objs, errs);
  for (const e of errs) fail("references", e);
}

// Unknown fields, missing fields and types: the TypeScript compiler.
if (objs.length) {
  const dir = mkdtempSync(join(here, ".check-"));
  try {
    writeFileSync(join(dir, "kserve.ts"), KSERVE_TYPES);
    const names = objs.map((o, i) => {
      const f = join(dir, `object${i}.ts`);
      const typeRef = o.type === "InferenceService" ? 'import("./kserve.js").InferenceService' : o.type;
      writeFileSync(f, `const object: ${typeRef} = ${JSON.stringify(o.obj, null, 2)};\nexport default object;\n`);
      return f;
    });
    const program = ts.createProgram(names, {
      strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [],
    });
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const i = d.file ? names.indexOf(d.file.fileName) : -1;
      const where = i >= 0 ? objs[i].file : d.file ? basename(d.file.fileName) : "typescript";
      const line = d.file && d.start !== undefined ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1} of the object as JSON: ` : "";
      fail(where, `fields: ${line}${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (asJson) console.log(JSON.stringify(Object.fromEntries(objs.map((o) => [o.file, o.obj]))));
for (const o of objs) if (!failed) console.error(`ok ${o.file} (${o.key})`);
process.exit(failed ? 1 : 0);
