// SPDX-License-Identifier: Apache-2.0
// Which workload owns a pod, inferred from the labels the controllers put on it and from the
// pod's name, with no API server. Pure.
//
// The label keys are the controllers' own (k8s.io/api apps/v1 and batch/v1 types):
// pod-template-hash (Deployment -> ReplicaSet), controller-revision-hash (StatefulSet and
// DaemonSet), statefulset.kubernetes.io/pod-name, pod-template-generation (DaemonSet),
// batch.kubernetes.io/job-name + batch.kubernetes.io/controller-uid (and their pre-1.27 twins
// job-name + controller-uid).
//
// Names follow from how the controllers name pods:
// - ReplicaSet and DaemonSet pods use generateName `<owner>-`. The API server cuts that base
//   to 58 characters and appends 5 random ones.
// - A Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`.
// - StatefulSet pods are `<statefulset>-<ordinal>`, and their controller-revision-hash is
//   `<statefulset>-<hash>`.
// - A Job's pods carry the Job's name in a label. A CronJob names each Job
//   `<cronjob>-<scheduled time in minutes since the epoch>` (cronjob controller v2, getJobName).
//
// What it cannot know, so it never guesses:
// - A ReplicaSet made by hand, or by an operator, carries no pod-template-hash. Its pods come
//   out as kind Pod. A ReplicaSet orphaned from its Deployment (`delete --cascade=orphan`)
//   still says Deployment.
// - A Deployment or DaemonSet whose pod name was cut to 63 characters has lost the end of its
//   name. Its workload is null, with a reason.
// - A Job made by hand, named like `<x>-<8 digits in range>`, comes out as CronJob x. Jobs
//   made by the pre-1.21 controller (seconds, not minutes) come out as kind Job.
// - Owners outside core Kubernetes (Argo Rollouts, OpenShift DeploymentConfig, Knative,
//   operators' own controllers) have no labels known here. Their pods come out as kind Pod,
//   as do static (mirror) pods.
// - Labels are fixed at sandbox creation. A later relabel, or a changed owner, is seen only by
//   the API server.
// - Without labels nothing can be told: where they are unknown rather than empty (containerd
//   answered from its files, not its CRI socket), pod-facts.ts gives no workload at all.

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob' | 'Pod';

export interface Workload {
  kind: WorkloadKind;
  name: string;
}

export type WorkloadInference = { workload: Workload; reason?: undefined } | { workload: null; reason: string };

// kube's generated-name limits: 63-character names, the base cut to 58 before 5 random characters.
const MAX_NAME = 63;
const RANDOM_SUFFIX = 5;
const GENERATED_BASE_MAX = MAX_NAME - RANDOM_SUFFIX;
// The alphabet of k8s.io/apimachinery's rand.String (no vowels, no 0/1/3 look-alikes).
const RANDOM_RE = /^[bcdfghjklmnpqrstvwxz2456789]{5}$/;
// A DNS-1123 label: what every one of these names must be.
const DNS_LABEL_RE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
// CronJob schedule suffixes as minutes since the epoch, from 2015-01-01 to 2100-01-01 (8 digits).
const CRON_MIN = 23_667_840;
const CRON_MAX = 68_166_720;

const L = {
  podTemplateHash: 'pod-template-hash',
  revisionHash: 'controller-revision-hash',
  stsPodName: 'statefulset.kubernetes.io/pod-name',
  dsGeneration: 'pod-template-generation',
  jobName: 'batch.kubernetes.io/job-name',
  jobNameLegacy: 'job-name',
  controllerUid: 'batch.kubernetes.io/controller-uid',
  controllerUidLegacy: 'controller-uid',
} as const;

function label(labels: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : undefined;
}

/** The generateName base of a pod name (`<base>-xxxxx` -> base), or why it cannot be known. */
function generatedBase(podName: string): { base: string } | { why: string } {
  // A 63-character generated name had its base cut to 58, or is exactly that long: either way
  // the owner's name cannot be told apart from a cut one.
  if (podName.length >= MAX_NAME) return { why: 'pod name was cut to 63 characters (or may have been), the owner name is incomplete' };
  const dash = podName.length - RANDOM_SUFFIX - 1;
  if (dash < 1 || podName[dash] !== '-' || !RANDOM_RE.test(podName.slice(dash + 1))) {
    return { why: 'pod name does not end in a generated 5-character suffix' };
  }
  return { base: podName.slice(0, dash) };
}

function job(podName: string, labels: Readonly<Record<string, string>>): WorkloadInference | undefined {
  const name = label(labels, L.jobName) ?? label(labels, L.jobNameLegacy);
  const uid = label(labels, L.controllerUid) ?? label(labels, L.controllerUidLegacy);
  if (name === undefined || uid === undefined) return undefined;
  if (!DNS_LABEL_RE.test(name)) return { workload: null, reason: 'job-name label is not a valid name' };
  if (!podName.startsWith(`${name}-`) && !podName.startsWith(name.slice(0, GENERATED_BASE_MAX - 1))) {
    return { workload: null, reason: 'pod name does not start with its job-name label' };
  }
  const m = /^(.+)-([0-9]{8})$/.exec(name);
  if (m) {
    const minutes = Number(m[2]);
    if (minutes >= CRON_MIN && minutes <= CRON_MAX) return { workload: { kind: 'CronJob', name: m[1]! } };
  }
  return { workload: { kind: 'Job', name } };
}

function statefulSet(podName: string, labels: Readonly<Record<string, string>>): WorkloadInference | undefined {
  const stsPod = label(labels, L.stsPodName);
  const rev = label(labels, L.revisionHash);
  if (stsPod === undefined || rev === undefined) return undefined;
  if (stsPod !== podName) return { workload: null, reason: 'statefulset pod-name label names another pod' };
  const m = /^(.+)-(0|[1-9][0-9]*)$/.exec(podName);
  if (!m) return { workload: null, reason: 'StatefulSet pod name has no ordinal' };
  const name = m[1]!;
  if (!rev.startsWith(`${name}-`)) return { workload: null, reason: 'controller-revision-hash does not name the StatefulSet' };
  return { workload: { kind: 'StatefulSet', name } };
}

function daemonSet(podName: string, labels: Readonly<Record<string, string>>): WorkloadInference | undefined {
  if (label(labels, L.revisionHash) === undefined || label(labels, L.dsGeneration) === undefined) return undefined;
  const b = generatedBase(podName);
  if ('why' in b) return { workload: null, reason: `DaemonSet: ${b.why}` };
  return { workload: { kind: 'DaemonSet', name: b.base } };
}

function deployment(podName: string, labels: Readonly<Record<string, string>>): WorkloadInference | undefined {
  const hash = label(labels, L.podTemplateHash);
  if (hash === undefined) return undefined;
  const b = generatedBase(podName);
  if ('why' in b) return { workload: null, reason: `Deployment: ${b.why}` };
  const suffix = `-${hash}`;
  if (hash === '' || !b.base.endsWith(suffix) || b.base.length === suffix.length) {
    return { workload: null, reason: 'Deployment: the ReplicaSet name in the pod name does not end in its pod-template-hash' };
  }
  return { workload: { kind: 'Deployment', name: b.base.slice(0, -suffix.length) } };
}

/**
 * The workload that owns a pod, from its name and labels. Never throws. workload is null
 * (with a reason) when the labels name a controller but the names do not add up.
 */
export function inferWorkload(podName: string, labels: Readonly<Record<string, string>>): WorkloadInference {
  if (!DNS_LABEL_RE.test(podName) && !/^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/.test(podName)) {
    return { workload: null, reason: 'pod name is not a valid Kubernetes name' };
  }
  return (
    job(podName, labels) ??
    statefulSet(podName, labels) ??
    daemonSet(podName, labels) ??
    deployment(podName, labels) ?? { workload: { kind: 'Pod', name: podName } }
  );
}
