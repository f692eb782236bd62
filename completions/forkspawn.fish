# fish completion for forkspawn
set -l commands run check backends
complete -c forkspawn -f
complete -c forkspawn -n __fish_use_subcommand -l help -d 'Print usage'
complete -c forkspawn -n __fish_use_subcommand -l version -d 'Print the version'
complete -c forkspawn -n __fish_use_subcommand -a run -d 'Run the tree in a spec (the default command)'
complete -c forkspawn -n __fish_use_subcommand -a check -d 'Validate a spec and print the normalized tree'
complete -c forkspawn -n __fish_use_subcommand -a backends -d 'List the spawn backends'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -F -a '(__fish_complete_suffix .json)'
complete -c forkspawn -n "__fish_seen_subcommand_from check" -F -a '(__fish_complete_suffix .json)'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l spawn-backend -x -a 'subint_forkserver main_thread_forkserver trio mp_forkserver' -d 'How actors are spawned'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l report -x -a 'table json jsonl none' -d 'Report format'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l report-file -r -F -d 'Write the report to a file'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l stop -x -d 'Default stop sequence, e.g. SIGTERM,1.6s,SIGKILL'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l timeout -x -d 'Cancel the whole tree after a duration'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -l output -x -a 'prefix inherit null' -d 'Default handling of actor output'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -s v -l verbose -d 'More lifecycle log'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends" -s q -l quiet -d 'Less lifecycle log'
complete -c forkspawn -n "__fish_seen_subcommand_from backends" -l json -d 'Print JSON'
