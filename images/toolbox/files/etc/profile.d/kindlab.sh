# kindlab workstation shell: history written after every command (the labs' history
# checks read it), kubectl completion and a short alias.
export HISTFILE="${HOME}/.bash_history" HISTSIZE=10000 HISTFILESIZE=10000 HISTCONTROL=ignorespace
shopt -s histappend 2>/dev/null
PROMPT_COMMAND="history -a${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
[ -f /etc/bash_completion.d/kubectl ] && . /etc/bash_completion.d/kubectl
alias k=kubectl
complete -o default -F __start_kubectl k 2>/dev/null
PS1='\[\e[1;32m\]learner\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '
