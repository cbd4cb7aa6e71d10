# kindlab workstation shell: history written after every command (the labs' history
# checks read it), kubectl completion and a short alias.
export HISTFILE="${HOME}/.bash_history" HISTSIZE=10000 HISTFILESIZE=10000 HISTCONTROL=ignorespace
shopt -s histappend 2>/dev/null
PROMPT_COMMAND="history -a${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
[ -f /etc/bash_completion.d/kubectl ] && . /etc/bash_completion.d/kubectl
alias k=kubectl
complete -o default -F __start_kubectl k 2>/dev/null
PS1='\[\e[1;32m\]learner\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '

# When the cluster refuses the learner something that belongs to the platform, say
# so under kubectl's own error, in order. Only for kubectl run in the foreground
# with a terminal on stderr: in the background, a pipeline or $(...), kubectl itself
# takes the subshell's place, so `kill $!`, `kill %1` and exit codes work as always.
__kindlab_hint() {
  local line said=
  while IFS= read -r line; do
    printf '%s\n' "$line"
    [[ -n $said || $line == *'kindlab: '* ]] && continue
    case $line in
    *'violates PodSecurity'*)
      printf '\e[1;33mkindlab:\e[0m pods here keep PodSecurity "baseline": no privileged containers, host namespaces, hostPath or hostPort. The node belongs to the platform.\n'
      said=1 ;;
    *'exceeded quota'*|*'must specify limits'*)
      printf '\e[1;33mkindlab:\e[0m every namespace has a quota (kubectl describe quota shows what is left); delete what you no longer need.\n'
      said=1 ;;
    *forbidden*system:serviceaccount:kindlab:learner*|*'(Forbidden)'*)
      printf '\e[1;33mkindlab:\e[0m your learner account may not do this: the system namespaces, the node, security settings and other identities belong to the platform. Your own namespaces (like default) are yours.\n'
      said=1 ;;
    esac
  done
}
kubectl() {
  if (( BASH_SUBSHELL > 0 )) || [[ ! -t 2 ]]; then
    (( BASH_SUBSHELL > 0 )) && exec kubectl "$@"
    command kubectl "$@"
    return
  fi
  { command kubectl "$@" 2>&1 1>&3 3>&- | __kindlab_hint >&2; } 3>&1
  return "${PIPESTATUS[0]}"
}
