/* The ssl3d command-line program: one file per subcommand. Each returns the process
 * exit status (0 ok, 1 runtime error, 2 usage error) and prints one clear message
 * naming the file or option at fault. */
#ifndef SSL3D_CLI_H
#define SSL3D_CLI_H
int cmd_info(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_protocol(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
#endif
