#!/bin/bash
# Wall time of each command's start-up, interleaved, REPEAT rounds; medians printed.
# usage: startup_cli.sh WORKTREE [REPEAT]
W=${1:-/work/wt/throughput}; R=${2:-5}
T=$(mktemp -d); cd $T; export OPENBLAS_NUM_THREADS=1
S=$W/studies/digits-momentum.toml; B=$W/.venv/bin
$B/tuner -q study run $S --n-trials 3 --storage sqlite:///$T/done.db
declare -A times
run() { local name=$1; shift; local s=$(date +%s.%N); "$@" >/dev/null 2>&1; local e=$(date +%s.%N); times[$name]+="$(echo "$e - $s" | bc) "; }
for i in $(seq $R); do
  rm -f $T/f.db*
  run "python -c pass" $B/python -c pass
  run "python -c 'import optuna'" $B/python -c "import optuna"
  run "tuner --help" $B/tuner --help
  run "study run --n-trials 1 (fresh sqlite)" $B/tuner -q study run $S --n-trials 1 --storage sqlite:///$T/f.db
  run "study run (existing, all done)" $B/tuner -q study run $S --n-trials 3 --storage sqlite:///$T/done.db
  run "worker (existing, all done)" $B/tuner -q worker $S --storage sqlite:///$T/done.db
  run "study show" $B/tuner -q study show digits-momentum --storage sqlite:///$T/done.db
  run "retune (up to date)" $B/tuner -q retune $S --storage sqlite:///$T/done.db
  run "train --best" $B/tuner -q train $S --storage sqlite:///$T/done.db --no-upload
done
for k in "${!times[@]}"; do echo "${times[$k]}" | tr ' ' '\n' | grep . | sort -n | awk -v k="$k" '{a[NR]=$1} END {printf "%6.2f s median (min %.2f, max %.2f)  %s\n", a[int((NR+1)/2)], a[1], a[NR], k}'; done | sort -k5
uptime; rm -rf $T
