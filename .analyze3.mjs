import * as esbuild from 'esbuild';
const entry = process.argv[2];
const r = await esbuild.build({ entryPoints:[entry], bundle:true, platform:'node', target:'node22', minify:true, format:'esm', mainFields:['module','main'], metafile:true, write:false, outfile:'/tmp/out.js', logLevel:'error', alias: {'@aws-sdk/credential-provider-node': './lambdas/env-creds.ts'} });
const out = Object.values(r.metafile.outputs)[0];
console.log('total', (out.bytes/1024).toFixed(1), 'KB');
const groups = {};
for (const [f, v] of Object.entries(out.inputs)) { const m = f.match(/node_modules\/((@[^/]+\/)?[^/]+)/); const k = m ? m[1] : 'project'; groups[k]=(groups[k]??0)+v.bytesInOutput; }
for (const [k,v] of Object.entries(groups).sort((a,b)=>b[1]-a[1]).slice(0,40)) console.log((v/1024).toFixed(1).padStart(8), k);
