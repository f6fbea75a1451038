#!/bin/bash
# AiV1 GPU instances (stacks/compute.py): keep the Batch job's containers away from the instance role.
# AWS Batch runs ECS-EC2 jobs in host networking, so a container reaches IMDS (169.254.169.254) like the
# host does, and IMDSv2's hop limit does not stop it. The ECS agent puts task containers in cgroup v2
# slices under ecstasks.slice and runs outside it itself (it needs IMDS for the instance role); this
# drops IMDS traffic from that slice only. It runs as user data, before the ECS agent starts
# (ecs.service comes after cloud-final), so no job runs before the rule is in place. The job keeps its
# own role's credentials: they come from the ECS agent at 169.254.170.2, which this does not touch.
# gpu_runner/entry.py checks from inside the job and warns when IMDS still answers.
set -euo pipefail
SLICE=ecstasks.slice
printf '[Unit]\nDescription=ECS task containers (created early for the AiV1 IMDS rule)\n' \
    > "/etc/systemd/system/${SLICE}"
systemctl daemon-reload
systemctl start "${SLICE}"  # iptables resolves the cgroup path when the rule is added: it must exist
iptables --wait --insert OUTPUT 1 --destination 169.254.169.254/32 --match cgroup --path "${SLICE}" --jump DROP
iptables --wait --check OUTPUT --destination 169.254.169.254/32 --match cgroup --path "${SLICE}" --jump DROP
echo "AiV1: IMDS is dropped for processes in ${SLICE}"
